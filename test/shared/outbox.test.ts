import { afterEach, describe, expect, it } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { Frame, FrameArena } from "../../src/media/frame.ts";
import { RtmpLayout } from "../../src/media/rtmp-layout.ts";
import { encodeMessage } from "../../src/protocol/chunk-writer.ts";
import { Csid, MessageType } from "../../src/protocol/message.ts";
import { KEEP, Outbox, type Writable } from "../../src/shared/outbox.ts";
import { waitFor } from "../../support/wait.ts";
import { countHolders, holders } from "../helpers/frame-holders.ts";
import { toHex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

/**
 * A socket as Bun's write() is one: it takes what its buffer has room for and no more, copying it (here,
 * keeping it); `room` is that buffer's free space. Each write() is counted, as each is a syscall.
 */
class FakeSocket implements Writable {
  readonly writes: number[] = [];
  private readonly taken: Uint8Array[] = [];

  constructor(private room = Infinity) {}

  write(data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset): number {
    this.writes.push(byteLength);
    const n = Math.min(byteLength, this.room);
    this.room -= n;
    this.taken.push(data.slice(byteOffset, byteOffset + n));
    return n;
  }

  /** Room for `room` bytes more, and the drain event Bun would then give the outbox. */
  drain(outbox: Outbox, room = Infinity): void {
    this.room = room;
    outbox.drain(performance.now());
  }

  /** Everything taken so far, in order. */
  bytes(): Uint8Array {
    return Buffer.concat(this.taken);
  }
}

/** An outbox on a FakeSocket with `room` bytes free, after its end-of-turn flush. */
async function fakeOutbox(room: number, fill: (outbox: Outbox) => void): Promise<{ socket: FakeSocket; outbox: Outbox }> {
  const socket = new FakeSocket(room);
  const outbox = new Outbox(socket);
  fill(outbox);
  // Pushes are written at the end of the turn: a microtask, which runs before this await resumes.
  await Promise.resolve();
  return { socket, outbox };
}

/** A real loopback pair: the server side writes through an Outbox, the client counts what arrives. */
async function pair() {
  let serverSocket!: Socket<{ outbox: Outbox }>;
  const opened = Promise.withResolvers<void>();
  const listener: TCPSocketListener<{ outbox: Outbox }> = Bun.listen<{ outbox: Outbox }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { outbox: new Outbox(s) };
        serverSocket = s;
        opened.resolve();
      },
      data() {},
      drain(s) {
        s.data.outbox.drain(performance.now());
      },
    },
  });
  const received: Uint8Array[] = [];
  let receivedBytes = 0;
  const client = await Bun.connect({
    hostname: "127.0.0.1",
    port: listener.port,
    socket: {
      binaryType: "uint8array",
      data(_s, b) {
        received.push(b);
        receivedBytes += b.length;
      },
    },
  });
  await opened.promise;
  return { listener, client, outbox: serverSocket.data.outbox, received, bytes: () => receivedBytes };
}

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

describe("Outbox over a real socket", () => {
  it("keeps the unsent tail while the peer does not read, and delivers every byte in order after", async () => {
    const p = await pair();
    cleanup.push(() => (p.client.end(), p.listener.stop(true)));
    p.client.pause();
    // 64 MiB of numbered 64 KiB items, some of them views at an offset into a larger buffer: more than the
    // kernel buffers of a loopback pair hold, so the socket refuses the rest.
    const big = new Uint8Array(65 * 1024);
    const items: Uint8Array[] = [];
    for (let i = 0; i < 1024; i++) {
      const item = i % 2 === 0 ? new Uint8Array(64 * 1024) : big.slice().subarray(1024);
      item.fill(i & 0xff);
      items.push(item);
      p.outbox.push(item);
    }
    await waitFor(() => p.outbox.blockedSince > 0, 10_000, "the socket to refuse bytes");
    expect(p.outbox.queuedBytes).toBeGreaterThan(0);
    expect(p.outbox.queuedBytes + p.outbox.bytesSent).toBe(64 * 1024 * 1024);
    p.client.resume();
    await waitFor(() => p.bytes() === 64 * 1024 * 1024, 10_000, "all 64 MiB at the peer");
    expect(p.outbox.queuedBytes).toBe(0);
    expect(p.outbox.empty).toBe(true);
    const all = new Uint8Array(p.bytes());
    let at = 0;
    for (const b of p.received) (all.set(b, at), (at += b.length));
    for (let i = 0; i < 1024; i++) expect(all[i * 64 * 1024 + 100]).toBe(i & 0xff);
  });
});

describe("Outbox on a socket whose room the test sets", () => {
  it("coalesces what is pushed in one turn into a single write", async () => {
    const { socket } = await fakeOutbox(Infinity, (outbox) => {
      for (let i = 0; i < 100; i++) outbox.push(new Uint8Array(100).fill(i));
    });
    expect(socket.writes).toEqual([10_000]);
    expect(toHex(socket.bytes())).toBe(toHex(Buffer.concat(Array.from({ length: 100 }, (_, i) => new Uint8Array(100).fill(i)))));
  });

  it("drops queued media but never what must be kept, nor a half-sent item", async () => {
    const t0 = performance.now();
    // The socket takes one item and a half; the rest stays queued.
    const media = Array.from({ length: 512 }, (_, i) => new Uint8Array(64 * 1024).fill(i & 0xff));
    const { socket, outbox } = await fakeOutbox(96 * 1024, (o) => {
      for (const item of media) o.push(item, t0);
    });
    expect(outbox.blockedSince).toBeGreaterThan(0);
    const headerBytes = new Uint8Array(10).fill(0xee);
    outbox.push(headerBytes, KEEP);
    outbox.push(new Uint8Array(1000), t0);
    expect(outbox.oldestMediaTime()).toBe(t0);
    expect(outbox.dropMedia()).toBe(511);
    expect(outbox.oldestMediaTime()).toBe(0);
    // What stays: the rest of the half-sent item and the kept header.
    expect(outbox.queuedBytes).toBe(32 * 1024 + 10);
    socket.drain(outbox);
    expect(outbox.empty).toBe(true);
    expect(toHex(socket.bytes())).toBe(toHex(Buffer.concat([media[0], media[1], headerBytes])));
  });
});

describe("Outbox with shared frames", () => {
  it("lays frames out in each receiver's wire form, interleaved with raw bytes, and gives every frame back", async () => {
    const arena = new FrameArena();
    const layout = new RtmpLayout(4096, 1);
    const expected: Uint8Array[] = [];
    const frames: Frame[] = [];
    // The socket takes about 2 MB, a sixth of it: the rest waits in the queue while the peer reads nothing.
    const { socket, outbox } = await fakeOutbox(2_000_000, (o) => {
      for (let i = 0; i < 600; i++) {
        // Raw bytes now and then, as a session's control messages would be.
        if (i % 50 === 0) {
          const raw = new Uint8Array(33).fill(0xc0);
          o.push(raw);
          expected.push(raw);
        }
        const frame = countHolders(arena.frame(MessageType.Video, i * 33, new Uint8Array(20_000 + i).fill(i & 0xff), i % 60 === 0));
        o.pushFrame(frame, layout, i % 60 === 0 ? KEEP : performance.now());
        frames.push(frame);
        frame.release();
        expected.push(encodeMessage({ csid: Csid.Video, type: 9, streamId: 1, timestamp: i * 33, payload: frame.payload }, 4096));
      }
    });
    expect(outbox.blockedSince).toBeGreaterThan(0);
    expect(holders(frames.at(-1)!)).toBe(1);
    expect(holders(frames[0])).toBe(0);
    socket.drain(outbox);
    expect(outbox.empty).toBe(true);
    expect(toHex(socket.bytes())).toBe(toHex(Buffer.concat(expected)));
    expect(frames.every((f) => holders(f) === 0)).toBe(true);
    arena.close();
  });

  it("gives back the frames it drops and the frames queued when it closes", async () => {
    const layout = new RtmpLayout(4096, 1);
    const t0 = performance.now();
    const { outbox } = await fakeOutbox(0, (o) => o.push(new Uint8Array(64 * 1024), t0));
    expect(outbox.blockedSince).toBeGreaterThan(0);
    const dropped = Array.from({ length: 10 }, (_, i) => countHolders(new Frame(MessageType.Video, i, new Uint8Array(1000), false, false)));
    for (const f of dropped) outbox.pushFrame(f, layout, t0);
    const kept = countHolders(new Frame(MessageType.Video, 99, new Uint8Array(1000), false, true));
    outbox.pushFrame(kept, layout, KEEP);
    outbox.dropMedia();
    expect(dropped.every((f) => holders(f) === 1)).toBe(true);
    expect(holders(kept)).toBe(2);
    outbox.close();
    expect(holders(kept)).toBe(1);
  });
});

describe("Outboxes queueing in one shared pool of entries", () => {
  /** What one outbox was given, in order, and how far its socket has taken it: the queue as a list. */
  class Model {
    readonly items: { bytes: Uint8Array; keep: boolean }[] = [];
    /** Bytes of items[0] the socket has taken. */
    sent = 0;
    readonly out: Uint8Array[] = [];

    take(n: number): void {
      while (n > 0) {
        const head = this.items[0];
        const k = Math.min(n, head.bytes.length - this.sent);
        this.out.push(head.bytes.subarray(this.sent, this.sent + k));
        this.sent += k;
        n -= k;
        if (this.sent === head.bytes.length) (this.items.shift(), (this.sent = 0));
      }
    }

    drop(): number {
      const started = this.sent > 0 ? 1 : 0;
      const before = this.items.length;
      const rest = this.items.slice(started).filter((item) => item.keep);
      this.items.splice(started, Infinity, ...rest);
      return before - this.items.length;
    }
  }

  it("send, drop and give back exactly what a plain list would, entries taken and freed in every order", async () => {
    const random = mulberry32(15);
    const arena = new FrameArena();
    // Receivers of two chunk sizes and two stream ids, three of each: frames go through the layout ring too.
    const layouts = [128, 4096].flatMap((chunk) => [1, 7].flatMap((id) => Array.from({ length: 3 }, () => new RtmpLayout(chunk, id))));
    const sockets = layouts.map(() => new FakeSocket(0));
    const outboxes = sockets.map((socket) => new Outbox(socket));
    const models = layouts.map(() => new Model());
    const frames: Frame[] = [];
    const sent = outboxes.map(() => 0);
    /** The model takes what the socket took since last asked (at the end of a turn, or on a drain). */
    const sync = (o: number) => {
      models[o].take(outboxes[o].bytesSent - sent[o]);
      sent[o] = outboxes[o].bytesSent;
    };
    let dropped = 0;
    for (let turn = 0; turn < 400; turn++) {
      // A burst now and then (the queues grow), else a frame or two.
      const count = turn % 97 === 5 ? 300 : 1 + Math.floor(random() * 2);
      for (let i = 0; i < count; i++) {
        const keep = random() < 0.1;
        if (random() < 0.15) {
          const raw = new Uint8Array(1 + Math.floor(random() * 300)).fill(turn & 0xff);
          for (let o = 0; o < outboxes.length; o++) {
            outboxes[o].push(raw, keep ? KEEP : 1);
            models[o].items.push({ bytes: raw, keep });
          }
          continue;
        }
        const size = random() < 0.05 ? 150_000 : 1 + Math.floor(random() * 20_000);
        const frame = countHolders(arena.frame(MessageType.Video, turn * 40 + i, new Uint8Array(size).fill(i & 0xff), false));
        frames.push(frame);
        for (let o = 0; o < outboxes.length; o++) {
          outboxes[o].pushFrame(frame, layouts[o], keep ? KEEP : 1);
          const { chunkSize, streamId } = layouts[o];
          const wire = encodeMessage({ csid: Csid.Video, type: MessageType.Video, streamId, timestamp: frame.timestamp, payload: frame.payload }, chunkSize);
          models[o].items.push({ bytes: wire, keep });
        }
        frame.release();
      }
      await Promise.resolve();
      for (let o = 0; o < outboxes.length; o++) {
        sync(o);
        const r = random();
        if (r < 0.1) {
          const n = outboxes[o].dropMedia();
          expect(n).toBe(models[o].drop());
          dropped += n;
        } else if (r < 0.9) {
          sockets[o].drain(outboxes[o], Math.floor(random() * 60_000));
          sync(o);
        }
        expect(outboxes[o].queuedBytes).toBe(models[o].items.reduce((sum, item) => sum + item.bytes.length, 0) - models[o].sent);
      }
    }
    expect(dropped).toBeGreaterThan(100);
    for (let o = 0; o < outboxes.length; o++) {
      sockets[o].drain(outboxes[o]);
      sync(o);
      expect(outboxes[o].empty).toBe(true);
      expect(models[o].items).toEqual([]);
      expect(Buffer.compare(sockets[o].bytes(), Buffer.concat(models[o].out))).toBe(0);
    }
    expect(frames.every((f) => holders(f) === 0)).toBe(true);
    arena.close();
  });

  it("writes a frame alone in its queue from the shared laid-out form, and the rest of it after a short write", async () => {
    const arena = new FrameArena();
    const frame = arena.frame(MessageType.Video, 1000, new Uint8Array(30_000).fill(7), true);
    const wire = encodeMessage({ csid: Csid.Video, type: MessageType.Video, streamId: 1, timestamp: 1000, payload: frame.payload }, 4096);
    // The third receiver of a frame finds it laid out in the shared ring (see rtmp-layout.ts).
    const receivers = [0, 0, 0].map(() => ({ socket: new FakeSocket(10_000), layout: new RtmpLayout(4096, 1) }));
    const outboxes = receivers.map(({ socket }) => new Outbox(socket));
    receivers.forEach(({ layout }, i) => outboxes[i].pushFrame(frame, layout, 1));
    frame.release();
    await Promise.resolve();
    const third = receivers[2].socket;
    expect(third.writes).toEqual([wire.length]);
    third.drain(outboxes[2]);
    expect(third.writes).toEqual([wire.length, wire.length - 10_000]);
    for (let i = 0; i < 3; i++) {
      receivers[i].socket.drain(outboxes[i]);
      expect(toHex(receivers[i].socket.bytes())).toBe(toHex(wire));
    }
    arena.close();
  });
});
