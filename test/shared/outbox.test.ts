import { afterEach, describe, expect, it } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { Frame, FrameArena } from "../../src/media/frame.ts";
import { RtmpLayout } from "../../src/media/rtmp-layout.ts";
import { encodeMessage } from "../../src/protocol/chunk-writer.ts";
import { Csid, MessageType } from "../../src/protocol/message.ts";
import { KEEP, Outbox } from "../../src/shared/outbox.ts";
import { toHex } from "../helpers/hex.ts";

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

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

describe("Outbox over a real socket", () => {
  it("keeps the unsent tail while the peer does not read, and delivers every byte in order after", async () => {
    const p = await pair();
    cleanup.push(() => (p.client.end(), p.listener.stop(true)));
    p.client.pause();
    // 64 MiB of numbered 64 KiB items, some of them views at an offset into a larger buffer.
    const big = new Uint8Array(65 * 1024);
    const items: Uint8Array[] = [];
    for (let i = 0; i < 1024; i++) {
      const item = i % 2 === 0 ? new Uint8Array(64 * 1024) : big.slice().subarray(1024);
      item.fill(i & 0xff);
      items.push(item);
      p.outbox.push(item);
    }
    await Bun.sleep(50);
    expect(p.outbox.blockedSince).toBeGreaterThan(0);
    expect(p.outbox.queuedBytes).toBeGreaterThan(0);
    expect(p.outbox.queuedBytes + p.outbox.bytesSent).toBe(64 * 1024 * 1024);
    p.client.resume();
    await until(() => p.bytes() === 64 * 1024 * 1024);
    expect(p.outbox.queuedBytes).toBe(0);
    expect(p.outbox.empty).toBe(true);
    const all = new Uint8Array(p.bytes());
    let at = 0;
    for (const b of p.received) (all.set(b, at), (at += b.length));
    for (let i = 0; i < 1024; i++) expect(all[i * 64 * 1024 + 100]).toBe(i & 0xff);
  });

  it("coalesces what is pushed in one turn into a single write", async () => {
    const p = await pair();
    cleanup.push(() => (p.client.end(), p.listener.stop(true)));
    for (let i = 0; i < 100; i++) p.outbox.push(new Uint8Array(100).fill(i));
    await until(() => p.bytes() === 10_000);
    // One write of 10,000 bytes arrives as one read on loopback.
    expect(p.received).toHaveLength(1);
  });

  it("drops queued media but never what must be kept, nor a half-sent item", async () => {
    const p = await pair();
    cleanup.push(() => (p.client.end(), p.listener.stop(true)));
    p.client.pause();
    const t0 = performance.now();
    // Fill the kernel buffers so that what follows stays queued.
    for (let i = 0; i < 512; i++) p.outbox.push(new Uint8Array(64 * 1024), t0);
    await Bun.sleep(50);
    const headerBytes = new Uint8Array(10).fill(0xee);
    p.outbox.push(headerBytes, KEEP);
    p.outbox.push(new Uint8Array(1000), t0);
    expect(p.outbox.oldestMediaTime()).toBe(t0);
    const before = p.outbox.queuedBytes;
    const dropped = p.outbox.dropMedia();
    expect(dropped).toBeGreaterThan(0);
    expect(p.outbox.oldestMediaTime()).toBe(0);
    // What stays: the partly written item (if any) and the kept header.
    expect(p.outbox.queuedBytes).toBeLessThan(before);
    expect(p.outbox.queuedBytes).toBeLessThanOrEqual(64 * 1024 + 10);
    p.client.resume();
    await until(() => p.outbox.empty);
    await until(() => {
      const last = p.received.at(-1);
      return last !== undefined && last[last.length - 1] === 0xee;
    });
  });
});

describe("Outbox with shared frames", () => {
  it("lays frames out in each receiver's wire form, interleaved with raw bytes, and gives every frame back", async () => {
    const p = await pair();
    cleanup.push(() => (p.client.end(), p.listener.stop(true)));
    p.client.pause();
    const arena = new FrameArena();
    const layout = new RtmpLayout(4096, 1);
    const expected: Uint8Array[] = [];
    const frames: Frame[] = [];
    for (let i = 0; i < 600; i++) {
      // Raw bytes now and then, as a session's control messages would be.
      if (i % 50 === 0) {
        const raw = new Uint8Array(33).fill(0xc0);
        p.outbox.push(raw);
        expected.push(raw);
      }
      const frame = arena.frame(MessageType.Video, i * 33, new Uint8Array(20_000 + i).fill(i & 0xff), i % 60 === 0);
      p.outbox.pushFrame(frame, layout, i % 60 === 0 ? KEEP : performance.now());
      frames.push(frame);
      frame.release();
      expected.push(encodeMessage({ csid: Csid.Video, type: 9, streamId: 1, timestamp: i * 33, payload: frame.payload }, 4096));
    }
    // The queue holds them while the peer reads nothing.
    await Bun.sleep(50);
    expect(frames.at(-1)!.holders).toBe(1);
    p.client.resume();
    const total = expected.reduce((n, b) => n + b.length, 0);
    await until(() => p.bytes() === total);
    const all = new Uint8Array(total);
    let at = 0;
    for (const b of p.received) (all.set(b, at), (at += b.length));
    at = 0;
    for (const e of expected) {
      expect(toHex(all.subarray(at, at + e.length))).toBe(toHex(e));
      at += e.length;
    }
    expect(frames.every((f) => f.holders === 0)).toBe(true);
    arena.close();
  });

  it("gives back the frames it drops and the frames queued when it closes", async () => {
    const p = await pair();
    cleanup.push(() => (p.client.end(), p.listener.stop(true)));
    p.client.pause();
    const layout = new RtmpLayout(4096, 1);
    const t0 = performance.now();
    for (let i = 0; i < 256; i++) p.outbox.push(new Uint8Array(64 * 1024), t0);
    await Bun.sleep(50);
    const dropped = Array.from({ length: 10 }, (_, i) => new Frame(MessageType.Video, i, new Uint8Array(1000), false, false));
    for (const f of dropped) p.outbox.pushFrame(f, layout, t0);
    const kept = new Frame(MessageType.Video, 99, new Uint8Array(1000), false, true);
    p.outbox.pushFrame(kept, layout, KEEP);
    p.outbox.dropMedia();
    expect(dropped.every((f) => f.holders === 1)).toBe(true);
    expect(kept.holders).toBe(2);
    p.outbox.close();
    expect(kept.holders).toBe(1);
  });
});
