/**
 * The fan-out path without the kernel: one publisher's frames queued to 200 RTMP players and written at the
 * end of each turn to sockets that take everything (the end-to-end shapes add the syscalls). Frames come one
 * per turn, as a real-time publisher's do, or three per turn, as after a stall.
 */
import { bench, do_not_optimize, group } from "mitata";
import { opensGop } from "../src/media/codec-info.ts";
import { FrameArena } from "../src/media/frame.ts";
import { RtmpLayout } from "../src/media/rtmp-layout.ts";
import { MessageType } from "../src/protocol/message.ts";
import { Outbox } from "../src/shared/outbox.ts";
import { Subscriber, type SubscriberPeer } from "../src/streams/subscriber.ts";
import { syntheticStream } from "./stream-fixture.ts";

const PLAYERS = 200;
const CHUNK_SIZE = 4096;
const messages = syntheticStream(10).filter((m) => m.type === MessageType.Audio || m.type === MessageType.Video);

/** Player-messages each benchmark delivers per iteration, so run.ts can print ns per player-message. */
export const fanoutBenchDeliveries: Record<string, number> = {
  "fan-out, 1 frame per turn: 10 s of A/V to 200 players": messages.length * PLAYERS,
  "fan-out, 3 frames per turn: 10 s of A/V to 200 players": messages.length * PLAYERS,
};

class Sink {
  written = 0;
  write(_data: Uint8Array, _offset = 0, length = 0): number {
    this.written += length;
    return length;
  }
}

function players(): Subscriber<SubscriberPeer>[] {
  return Array.from({ length: PLAYERS }, () => {
    const peer: SubscriberPeer = { outbox: new Outbox(new Sink()), close: () => {} };
    const player = new Subscriber(peer, 1, RtmpLayout.of(CHUNK_SIZE, 1), 5_000, null);
    player.waitKeyframe = false;
    return player;
  });
}

async function deliver(perTurn: number): Promise<void> {
  const arena = new FrameArena();
  const subscribers = players();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const frame = arena.frame(m.type, m.timestamp, m.payload, m.type === MessageType.Video && opensGop(m.payload));
    const now = performance.now();
    for (const s of subscribers) s.sendMedia(frame, now, true);
    frame.release();
    if (i % perTurn === perTurn - 1) await null;
  }
  await null;
  for (const s of subscribers) do_not_optimize(s.peer.outbox.bytesSent);
  arena.close();
}

export function registerFanoutBenches(): void {
  group("fan-out path", () => {
    bench("fan-out, 1 frame per turn: 10 s of A/V to 200 players", () => deliver(1));
    bench("fan-out, 3 frames per turn: 10 s of A/V to 200 players", () => deliver(3));
  });
}
