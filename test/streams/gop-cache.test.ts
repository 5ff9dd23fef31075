import { describe, expect, it } from "bun:test";
import { type Frame, FrameArena, trimIdleSlabs } from "../../src/media/frame.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { GopCache } from "../../src/streams/gop-cache.ts";
import { countHolders, holders } from "../helpers/frame-holders.ts";

/** A publication's media as the stream feeds it: each frame made in the arena, cached, then the creator's reference let go. */
class Feed {
  readonly arena = new FrameArena();
  readonly made: Frame[] = [];

  constructor(readonly cache: GopCache) {}

  add(type: number, timestamp: number, size: number, keyframe = false): Frame {
    const payload = new Uint8Array(size).fill(timestamp & 0xff);
    const frame = countHolders(this.arena.frame(type, timestamp, payload, keyframe));
    this.cache.add(frame, this.arena);
    frame.release();
    this.made.push(frame);
    return frame;
  }

  /** A 2 s GOP from `start`: 25 fps of 8 KB video, AAC-like audio every 23 ms. */
  gop(start: number): void {
    for (let t = 0; t < 2000; t += 40) {
      this.add(MessageType.Video, start + t, 8_000, t === 0);
      this.add(MessageType.Audio, start + t + 5, 300);
      this.add(MessageType.Audio, start + t + 28, 300);
    }
  }
}

const shape = (frames: readonly Frame[]) => frames.map((f) => `${f.video ? "V" : "A"}${f.timestamp}`);

describe("GopCache", () => {
  it("holds the frames since the last keyframe, with the half second of audio before it, in order", () => {
    const feed = new Feed(new GopCache(16 * 1024 * 1024));
    feed.add(MessageType.Audio, 0, 300); // before any keyframe: of no use to a joiner
    expect(feed.cache.frames).toEqual([]);
    feed.add(MessageType.Video, 10, 8_000, true);
    feed.add(MessageType.Audio, 20, 300);
    feed.add(MessageType.Audio, 400, 300);
    feed.add(MessageType.Video, 410, 8_000);
    feed.add(MessageType.Audio, 700, 300);
    feed.add(MessageType.Video, 1000, 8_000, true);
    expect(shape(feed.cache.frames)).toEqual(["A700", "V1000"]);
    feed.add(MessageType.Audio, 1010, 300);
    feed.add(MessageType.Audio, 1020, 300);
    feed.add(MessageType.Video, 1400, 8_000, true);
    expect(shape(feed.cache.frames)).toEqual(["A1010", "A1020", "V1400"]);
    // The audio kept is the same message: type, time and bytes.
    expect(Array.from(feed.cache.frames[0].payload)).toEqual(Array.from(new Uint8Array(300).fill(1010 & 0xff)));
    feed.cache.clear();
    feed.arena.close();
    expect(feed.made.filter((f) => holders(f) !== 0).map((f) => f.timestamp)).toEqual([]);
  });

  it("lets go of every frame of the previous GOP at a keyframe, the audio it keeps included, so their slabs are reused", () => {
    trimIdleSlabs(Number.POSITIVE_INFINITY);
    const feed = new Feed(new GopCache(16 * 1024 * 1024));
    feed.gop(0);
    const previous = feed.made.length;
    feed.add(MessageType.Video, 2000, 8_000, true);
    // The lead audio is still cached, as copies next to the new keyframe...
    expect(shape(feed.cache.frames).filter((s) => s.startsWith("A")).length).toBeGreaterThan(20);
    // ...so nothing of the previous GOP is held any more: its 430 KB of slabs go back to the pool at once.
    expect(feed.made.slice(0, previous).filter((f) => holders(f) !== 0)).toEqual([]);
    const gopSlabs = new Set(feed.made.slice(0, previous).map((f) => f.payload.buffer));
    const other = new FrameArena();
    const taken = Array.from({ length: 3 }, (_, i) => other.frame(MessageType.Video, i, new Uint8Array(120_000), false));
    expect(taken.every((f) => gopSlabs.has(f.payload.buffer))).toBe(true);
    for (const f of taken) f.release();
    other.close();
    feed.cache.clear();
    feed.arena.close();
  });

  it("holds nothing past its bound (counting each frame once) until the next keyframe", () => {
    const feed = new Feed(new GopCache(20_000));
    feed.add(MessageType.Video, 0, 8_000, true);
    feed.add(MessageType.Video, 40, 8_000);
    expect(shape(feed.cache.frames)).toEqual(["V0", "V40"]);
    feed.add(MessageType.Video, 80, 8_000);
    expect(feed.cache.frames).toEqual([]);
    feed.add(MessageType.Video, 120, 8_000);
    expect(feed.cache.frames).toEqual([]);
    feed.add(MessageType.Video, 160, 8_000, true);
    expect(shape(feed.cache.frames)).toEqual(["V160"]);
    feed.cache.clear();
    feed.arena.close();
  });
});
