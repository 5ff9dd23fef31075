import { afterEach, describe, expect, it } from "bun:test";
import { type Config, DEFAULT_CONFIG } from "../src/config/config.ts";
import { decodeCommand, encodeCommand } from "../src/protocol/command.ts";
import { UserControlEventType, decodeControl, windowAckSize } from "../src/protocol/control.ts";
import { ClientHandshake } from "../src/protocol/handshake.ts";
import { MessageType, type RtmpMessage } from "../src/protocol/message.ts";
import { type RtmpServer, startServer } from "../src/server.ts";
import { waitFor } from "../support/wait.ts";
import { type LogCapture, capturedLog } from "./helpers/log-capture.ts";
import { TestRtmpClient as RtmpClient } from "../support/rtmp-test-client.ts";

/** Server, connection and stream rules that need no FFmpeg: driven by our own client over loopback. */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(change: (c: Config) => void = () => {}): Promise<{ server: RtmpServer; url: string; logs: LogCapture }> {
  const config = structuredClone(DEFAULT_CONFIG);
  config.listen = { host: "127.0.0.1", port: 0 };
  change(config);
  const { log, logs } = capturedLog("info");
  const server = await startServer(config, log);
  cleanups.push(() => server.stop());
  return { server, url: `rtmp://127.0.0.1:${server.port}/live`, logs };
}

async function client(url: string, onMessage?: (m: RtmpMessage) => void): Promise<{ c: RtmpClient; closed: () => boolean }> {
  let closed = false;
  const c = await RtmpClient.connect(url, { onMessage, onClose: () => (closed = true) });
  cleanups.push(() => c.close());
  return { c, closed: () => closed };
}

/** A peer that completes the handshake and then ignores everything, pings included: what idle reaping is for. */
async function silentPeer(port: number): Promise<{ closed: () => boolean }> {
  const hs = new ClientHandshake();
  let closed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(s, bytes) {
        if (!hs.done) {
          const step = hs.push(bytes);
          if (step.send) s.write(step.send);
        }
      },
      close() {
        closed = true;
      },
    },
  });
  cleanups.push(() => socket.end());
  socket.write(hs.start());
  return { closed: () => closed };
}

function isPingRequest(m: RtmpMessage): boolean {
  if (m.type !== MessageType.UserControl) return false;
  const c = decodeControl(m.type, m.payload);
  return "event" in c && c.event.eventType === UserControlEventType.PingRequest;
}

function video(timestamp: number, key: boolean, streamId = 1): RtmpMessage {
  const payload = new Uint8Array(200).fill(0x42);
  payload[0] = key ? 0x17 : 0x27;
  payload[1] = 1;
  return { csid: 6, type: MessageType.Video, streamId, timestamp, payload };
}

async function publisher(url: string, name: string) {
  const p = await client(url);
  const id = await p.c.createStream();
  await p.c.publish(id, name);
  return { ...p, id };
}

async function player(url: string, name: string) {
  const media: RtmpMessage[] = [];
  const p = await client(url, (m) => {
    if (m.type === MessageType.Video || m.type === MessageType.Audio) media.push({ ...m, payload: m.payload.slice() });
  });
  await p.c.play(await p.c.createStream(), name);
  return { ...p, media };
}

describe("connections", () => {
  it("refuses connections past max_connections", async () => {
    const { url } = await serve((c) => (c.maxConnections = 2));
    await client(url);
    await client(url);
    await expect(RtmpClient.connect(url, { timeoutMs: 2000 })).rejects.toThrow();
  });

  it("reaps a peer that sends nothing and answers no ping, after timeouts.read", async () => {
    const { server, logs } = await serve((c) => (c.timeouts.readMs = 600));
    const peer = await silentPeer(server.port);
    await waitFor(peer.closed, 5000, "the silent peer to be reaped", () => logs.tail());
    const closes = logs.records().filter((r) => r.msg === "connection closed");
    expect(closes.map((r) => r.reason)).toEqual(["idle for 600 ms"]);
  });

  it("keeps a quiet connection that answers pings", async () => {
    const { url } = await serve((c) => (c.timeouts.readMs = 600));
    // Each ping goes out after half of timeouts.read of silence: three answered ones span more than a whole one.
    let pings = 0;
    const quiet = await client(url, (m) => {
      if (isPingRequest(m)) pings++;
    });
    await waitFor(() => pings >= 3 || quiet.closed(), 5000, "three pings");
    expect(quiet.closed()).toBe(false);
    // Still served: a command round trip after the third ping.
    expect(await quiet.c.createStream()).toBe(1);
  });

  it("never reaps a player that only receives while its stream is live", async () => {
    const { server, url } = await serve((c) => (c.timeouts.readMs = 600));
    const pub = await publisher(url, "live1");
    const play = await player(url, "live1");
    // Reaped after timeouts.read of silence: once it is gone, the player has sent nothing for longer than that.
    const control = await silentPeer(server.port);
    let sent = 0;
    const pacer = setInterval(() => pub.c.send(video(sent * 50, sent++ % 10 === 0, pub.id)), 20);
    try {
      await waitFor(() => control.closed() && play.media.length > 30, 5000, "the silent peer reaped and 30 frames played");
    } finally {
      clearInterval(pacer);
    }
    expect(play.closed()).toBe(false);
    expect(play.c.bytesReceived).toBeGreaterThan(8000);
    expect(play.media.length).toBeGreaterThan(30);
    // Still served after the sweep that reaped the silent peer: a command round trip.
    expect(await play.c.createStream()).toBe(2);
  });
});

describe("protocol conversation", () => {
  it("answers a command it does not support with _error on the same transaction", async () => {
    const { url } = await serve();
    const replies: string[] = [];
    const c = await client(url, (m) => {
      if (m.type !== MessageType.CommandAmf0) return;
      const cmd = decodeCommand(m.payload);
      replies.push(`${cmd.name} ${cmd.transactionId}`);
    });
    c.c.send({ csid: 3, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: encodeCommand("makeCoffee", 9, null) });
    c.c.send({ csid: 3, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: encodeCommand("getStreamLength", 10, null, "x") });
    await waitFor(() => replies.length >= 3, 3000, "three replies");
    expect(replies).toContain("_error 9");
    expect(replies).toContain("_result 10");
  });

  it("acknowledges every window of bytes the peer sends", async () => {
    const { url } = await serve();
    const acks: number[] = [];
    const pub = await client(url, (m) => {
      if (m.type === MessageType.Acknowledgement) {
        const c = decodeControl(m.type, m.payload);
        if (c.type === MessageType.Acknowledgement) acks.push(c.sequence);
      }
    });
    pub.c.send(windowAckSize(10_000));
    const id = await pub.c.createStream();
    await pub.c.publish(id, "acks");
    // Three batches of more than a window each: every read that completes a window is acknowledged, so each
    // batch brings one more acknowledgement.
    for (let batch = 0; batch < 3; batch++) {
      for (let i = 0; i < 50; i++) pub.c.send(video(batch * 2000 + i * 40, i === 0, id));
      await waitFor(() => acks.length > batch, 3000, `acknowledgement ${batch + 1}`);
    }
    expect(acks[1] - acks[0]).toBeGreaterThanOrEqual(10_000);
    expect(pub.c.bytesReceived).toBeGreaterThan(0);
  });
});

describe("streams", () => {
  it("replaces a publisher silent for longer than timeouts.publisher_idle, even under reject", async () => {
    const { url } = await serve((c) => {
      c.streams.publishConflict = "reject";
      c.timeouts.publisherIdleMs = 300;
    });
    const first = await publisher(url, "stale");
    first.c.send(video(0, true, first.id));
    // Refused while the first is fresh, then taking over once it has been silent for publisher_idle.
    let second: Awaited<ReturnType<typeof publisher>> | null = null;
    await waitFor(
      async () => {
        second = await publisher(url, "stale").catch(() => null);
        return second !== null;
      },
      3000,
      "a second publisher to take over",
    );
    second!.c.send(video(0, true, second!.id));
    await waitFor(first.closed, 3000, "the stale publisher to be closed");
    expect(second!.closed()).toBe(false);
  });

  it("refuses a second live publisher under reject", async () => {
    const { url } = await serve();
    const first = await publisher(url, "busy");
    first.c.send(video(0, true, first.id));
    const second = await client(url);
    await expect(second.c.publish(await second.c.createStream(), "busy")).rejects.toThrow("NetStream.Publish.BadName");
    await waitFor(second.closed, 3000, "the refused publisher to be closed");
    expect(first.closed()).toBe(false);
  });

  it("passes timestamps through unchanged across 24 bits and the 32-bit wrap", async () => {
    const { url } = await serve();
    const pub = await publisher(url, "ts");
    const play = await player(url, "ts");
    const stamps = [0xfffff0, 0xffffff, 0x1000000, 0x1000021, 0xfffffff0, 0xffffffff, 0x10, 0x31];
    stamps.forEach((t, i) => pub.c.send(video(t, i === 0, pub.id)));
    await waitFor(() => play.media.length === stamps.length, 5000, "every stamp played");
    expect(play.media.map((m) => m.timestamp)).toEqual(stamps);
  });

  it("never lets a player inject media into the stream it plays", async () => {
    const { url } = await serve();
    const pub = await publisher(url, "inj");
    const victim = await player(url, "inj");
    const intruder = await player(url, "inj");
    pub.c.send(video(0, true, pub.id));
    intruder.c.send({ ...video(40, true), payload: new Uint8Array(300).fill(0x17) });
    pub.c.send(video(80, false, pub.id));
    // The server has read the injected message once it answers the intruder's next command; a frame the
    // publisher sends after that reaches the victim behind anything the injection could have caused.
    await intruder.c.createStream();
    pub.c.send(video(120, false, pub.id));
    await waitFor(() => victim.media.some((m) => m.timestamp === 120), 5000, "the publisher's frame after the injection");
    expect(victim.media.map((m) => m.payload.length)).toEqual([200, 200, 200]);
  });

  it("gives a late joiner the GOP from its keyframe, and a player on another stream id the same frames", async () => {
    const { url } = await serve();
    const pub = await publisher(url, "gop");
    for (let i = 0; i < 25; i++) pub.c.send(video(i * 40, i % 10 === 0, pub.id));
    // The server has read all 25 once it answers the publisher's next command.
    await pub.c.createStream();
    const late = await player(url, "gop");
    // A player that made a throwaway stream first plays on stream id 2.
    const other = await client(url);
    const media: RtmpMessage[] = [];
    const other2 = await RtmpClient.connect(url, {
      onMessage: (m) => m.type === MessageType.Video && media.push(m),
    });
    cleanups.push(() => other2.close());
    await other2.createStream();
    const id = await other2.createStream();
    expect(id).toBe(2);
    await other2.play(id, "gop");
    await waitFor(() => late.media.length >= 5 && media.length >= 5, 5000, "five frames for each late player");
    expect(late.media.map((m) => m.timestamp)).toEqual([800, 840, 880, 920, 960]);
    expect(late.media[0].payload[0]).toBe(0x17);
    expect(media.map((m) => m.streamId)).toEqual([2, 2, 2, 2, 2]);
    expect(other.closed()).toBe(false);
  });
});
