import { describe, expect, it } from "bun:test";
import { Frame, FrameArena, trimIdleSlabs } from "../../src/media/frame.ts";
import { FlvLayout, flvFileHeader } from "../../src/media/flv.ts";
import { RtmpLayout } from "../../src/media/rtmp-layout.ts";
import { encodeMessage } from "../../src/protocol/chunk-writer.ts";
import { Csid, MessageType } from "../../src/protocol/message.ts";
import { ramp } from "../../support/bytes.ts";
import { hex, toHex } from "../helpers/hex.ts";

/** Larger than a slab: such messages are assembled by the chunk reader itself. */
const MAX_TOO_LARGE = 128 * 1024 + 1;

function laidOut(layout: RtmpLayout | FlvLayout, frame: Frame): Uint8Array {
  const out = new Uint8Array(layout.size(frame));
  expect(layout.copy(frame, out, 0, 0, out.length)).toBe(out.length);
  return out;
}

describe("FrameArena (frames in recycled slabs)", () => {
  it("copies the payload, so the frame outlives the buffer it came from", () => {
    const arena = new FrameArena();
    const source = ramp(0, 100);
    const frame = arena.frame(MessageType.Video, 40, source, true);
    source.fill(0);
    expect(toHex(frame.payload)).toBe(toHex(ramp(0, 100)));
    frame.release();
    arena.close();
  });

  it("gives a slab back once every frame in it is released, and reuses it instead of allocating", () => {
    trimIdleSlabs(Number.POSITIVE_INFINITY);
    const arena = new FrameArena();
    // Enough 50 KB frames to fill six slabs, two each, all held (as a GOP cache would).
    const held = Array.from({ length: 12 }, (_, i) => arena.frame(MessageType.Video, i, new Uint8Array(50_000), i === 0));
    const slabs = [...new Set(held.map((f) => f.payload.buffer))];
    expect(slabs.length).toBe(6);
    for (const f of held) f.release();
    // The arena's current slab emptied too: it starts over in place.
    const first = arena.frame(MessageType.Video, 99, new Uint8Array(120_000), true);
    expect(first.payload.buffer).toBe(slabs[5]);
    expect(first.payload.byteOffset).toBe(0);
    // Every other slab is idle again: the next five slabs taken, by this arena or another, are those; the sixth is new.
    const other = new FrameArena();
    const taken = [arena.frame(MessageType.Video, 100, new Uint8Array(120_000), false)];
    for (let i = 0; i < 5; i++) taken.push(other.frame(MessageType.Video, i, new Uint8Array(120_000), i === 0));
    const reused = new Set(taken.slice(0, 5).map((f) => f.payload.buffer));
    expect(reused.size).toBe(5);
    expect([...reused].every((b) => slabs.slice(0, 5).includes(b))).toBe(true);
    expect(slabs.includes(taken[5].payload.buffer)).toBe(false);
    // Closed arenas give their current slabs back too: all seven are taken again before a new one.
    first.release();
    for (const f of taken) f.release();
    arena.close();
    other.close();
    const all = [...slabs, taken[5].payload.buffer];
    const again = new FrameArena();
    const retaken = Array.from({ length: 7 }, (_, i) => again.frame(MessageType.Video, i, new Uint8Array(120_000), i === 0));
    expect(new Set(retaken.map((f) => f.payload.buffer)).size).toBe(7);
    expect(retaken.every((f) => all.includes(f.payload.buffer))).toBe(true);
    for (const f of retaken) f.release();
    again.close();
  });

  it("never lets a slab be reused while a frame in it is still held", () => {
    const arena = new FrameArena();
    const kept = arena.frame(MessageType.Audio, 0, ramp(7, 64), false).retain();
    kept.release();
    for (let i = 0; i < 5000; i++) arena.frame(MessageType.Video, i, new Uint8Array(3000).fill(i & 0xff), false).release();
    expect(toHex(kept.payload)).toBe(toHex(ramp(7, 64)));
    kept.release();
    // Its last holder let go: one release more is one too many.
    expect(() => kept.release()).toThrow("released more often than retained");
    arena.close();
  });
});

describe("FrameArena.reserve (a message assembled in place)", () => {
  it("makes the frame over reserved room without copying, and frees the slab once both let go", () => {
    trimIdleSlabs(Number.POSITIVE_INFINITY);
    const arena = new FrameArena();
    const room = arena.reserve(100_000)!;
    room.bytes.set(ramp(3, 100_000));
    const frame = arena.frame(MessageType.Video, 40, room.bytes, true, room);
    expect(frame.payload).toBe(room.bytes);
    // The reader lets go of its room; the frame still holds the slab, which the next allocation must not reuse.
    room.release();
    const next = arena.frame(MessageType.Video, 80, new Uint8Array(100_000), false);
    expect(next.payload.buffer === frame.payload.buffer).toBe(false);
    expect(toHex(frame.payload.subarray(0, 8))).toBe(toHex(ramp(3, 8)));
    // Another arena's or a plain buffer's bytes are copied as before.
    const copied = arena.frame(MessageType.Audio, 81, ramp(1, 10), false, { bytes: ramp(1, 10), release() {} });
    expect(copied.payload.buffer === frame.payload.buffer || copied.payload.buffer === next.payload.buffer).toBe(true);
    frame.release();
    // Its slab is idle now: the next arena to need one gets it.
    const probe = new FrameArena();
    const reused = probe.frame(MessageType.Video, 0, new Uint8Array(10), false);
    expect(reused.payload.buffer).toBe(frame.payload.buffer);
    reused.release();
    probe.close();
    next.release();
    copied.release();
    arena.close();
    expect(arena.reserve(MAX_TOO_LARGE)).toBeNull();
  });
});

describe("RtmpLayout", () => {
  const encoded = (frame: Frame, chunkSize: number, streamId: number) =>
    encodeMessage({ csid: Csid.Video, type: 9, streamId, timestamp: frame.timestamp, payload: frame.payload }, chunkSize);

  it("lays a frame out exactly as encodeMessage encodes it, for the player's stream id", () => {
    const frame = new Frame(MessageType.Video, 1234, ramp(0, 9000), true, false);
    for (const streamId of [1, 2]) {
      expect(toHex(laidOut(new RtmpLayout(4096, streamId), frame))).toBe(toHex(encoded(frame, 4096, streamId)));
    }
  });

  it("gives every receiver its own chunk size and stream id, whoever asked first, through many frames", () => {
    // 300 frames of 9 KB lay out 2.7 MB, so the cache of recent frames is overwritten several times over.
    const layouts = [new RtmpLayout(4096, 1), new RtmpLayout(4096, 1), new RtmpLayout(4096, 2), new RtmpLayout(128, 1)];
    for (let i = 0; i < 300; i++) {
      const frame = new Frame(MessageType.Video, i * 40, ramp(i, 9000 + i), false, false);
      for (const layout of i % 2 === 0 ? layouts : [...layouts].reverse()) {
        expect(toHex(laidOut(layout, frame))).toBe(toHex(encoded(frame, layout.chunkSize, layout.streamId)));
      }
    }
  });

  it("hands out one shared layout per chunk size and stream id, and sizes frames for each of them", () => {
    expect(RtmpLayout.of(4096, 1)).toBe(RtmpLayout.of(4096, 1));
    expect(RtmpLayout.of(4096, 2)).not.toBe(RtmpLayout.of(4096, 1));
    expect(RtmpLayout.of(128, 1)).not.toBe(RtmpLayout.of(4096, 1));
    const frame = new Frame(MessageType.Video, 40, ramp(0, 9000), false, false);
    // Asked in turn, as a fan-out's players of two chunk sizes would: each size is its own.
    for (const chunkSize of [4096, 128, 4096, 128]) expect(RtmpLayout.of(chunkSize, 1).size(frame)).toBe(encoded(frame, chunkSize, 1).length);
  });

  it("never hands out a frame whose bytes a later one overwrote", () => {
    // Frames of 60-120 KB: a few of them go round the cache, and frames asked for again must be laid out again.
    const layout = new RtmpLayout(4096, 1);
    const frames = Array.from({ length: 40 }, (_, i) => new Frame(MessageType.Video, i, ramp(i, 60_000 + ((i * 7919) % 60_000)), false, false));
    for (let i = 0; i < frames.length; i++) {
      for (const frame of [frames[i], frames[Math.max(0, i - 14)], frames[Math.max(0, i - 3)]]) {
        expect(toHex(laidOut(layout, frame))).toBe(toHex(encoded(frame, 4096, 1)));
      }
    }
  });

  it("copies any byte range of the chunks, of a frame too large to cache as well", () => {
    for (const length of [9000, MAX_TOO_LARGE]) {
      const frame = new Frame(MessageType.Video, 77, ramp(5, length), true, false);
      const whole = encoded(frame, 4096, 1);
      for (let from = 0; from < whole.length; from += 997) {
        for (const max of [1, 5, 4096, 70_000]) {
          const out = new Uint8Array(max);
          const n = new RtmpLayout(4096, 1).copy(frame, out, 0, from, max);
          expect(toHex(out.subarray(0, n))).toBe(toHex(whole.subarray(from, from + max)));
        }
      }
    }
  });
});

describe("FlvLayout and the FLV file header", () => {
  it("writes a tag: type, size, 24+8-bit timestamp, stream id 0, payload, previous tag size", () => {
    const frame = new Frame(MessageType.Audio, 0x01020304, hex("AF 01 55"), false, false);
    expect(toHex(laidOut(new FlvLayout(), frame))).toBe(toHex(hex("08 000003 020304 01 000000 AF0155 0000000E")));
  });

  it("copies any byte range of the tag", () => {
    const frame = new Frame(MessageType.Video, 77, ramp(3, 40), true, false);
    const whole = laidOut(new FlvLayout(), frame);
    for (let from = 0; from < whole.length; from += 3) {
      for (const max of [1, 5, 11, 60]) {
        const out = new Uint8Array(max);
        const n = new FlvLayout().copy(frame, out, 0, from, max);
        expect(toHex(out.subarray(0, n))).toBe(toHex(whole.subarray(from, from + max)));
      }
    }
  });

  it("flags audio and video in the file header, then PreviousTagSize0", () => {
    expect(toHex(flvFileHeader(true, true))).toBe("464c560105000000090000000" + "0");
    expect(flvFileHeader(true, false)[4]).toBe(4);
    expect(flvFileHeader(false, true)[4]).toBe(1);
  });
});
