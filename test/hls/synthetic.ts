/**
 * What the pure HLS tests feed a segmenter: real sequence headers (H.264 640x360, AAC 44.1 kHz stereo) and
 * frames with made-up bodies, as shared Frames (their holders counted) with wall-clock arrival times; and what
 * the fragments that come out hold (each run's track, decode time and sample count).
 */
import { Frame } from "../../src/media/frame.ts";
import { Segmenter, type SegmenterSettings } from "../../src/hls/segmenter.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { readFragment } from "../../support/fmp4.ts";
import { countHolders } from "../helpers/frame-holders.ts";
import { hex } from "../helpers/hex.ts";

export const H264_HEADER = hex(VIDEO[1].payload);
export const AAC_HEADER = hex(AUDIO[0].payload);
/** When frame 0 arrived (2026-01-01T00:00:00Z); a frame stamped t arrived t ms later. */
export const EPOCH = Date.UTC(2026, 0, 1);

export function videoHeader(payload = H264_HEADER): Frame {
  return countHolders(new Frame(MessageType.Video, 0, payload, false, true));
}

export function audioHeader(): Frame {
  return countHolders(new Frame(MessageType.Audio, 0, AAC_HEADER, false, true));
}

/** A legacy AVC coded frame: keyframe or not, composition time `cts`, `size` bytes of body. */
export function videoFrame(timestamp: number, keyframe: boolean, size = 100, cts = 0): Frame {
  const payload = new Uint8Array(5 + size).fill(0x55);
  payload.set([keyframe ? 0x17 : 0x27, 1, (cts >> 16) & 0xff, (cts >> 8) & 0xff, cts & 0xff]);
  return countHolders(new Frame(MessageType.Video, timestamp >>> 0, payload, keyframe, false));
}

export function audioFrame(timestamp: number, size = 10): Frame {
  const payload = new Uint8Array(2 + size).fill(0x21);
  payload.set([0xaf, 1]);
  return countHolders(new Frame(MessageType.Audio, timestamp >>> 0, payload, false, false));
}

export interface Feeder {
  (frame: Frame, arrival: number): void;
}

/** One-second segments (a keyframe every 25 frames of 40 ms) in 200 ms parts, seven listed. */
export const SETTINGS: SegmenterSettings = { segmentMs: 1000, partMs: 200, window: 7 };

/** A segmenter with both sequence headers given, the frames it was fed, and how often it published. */
export function fed(settings = SETTINGS) {
  let published = 0;
  const segmenter = new Segmenter(settings, { msn: 0, discontinuity: 0 }, () => published++);
  const frames: Frame[] = [];
  const feed: Feeder = (frame, arrival) => {
    frames.push(frame);
    segmenter.frame(frame, arrival);
  };
  feed(videoHeader(), EPOCH);
  feed(audioHeader(), EPOCH);
  return { segmenter, feed, frames, published: () => published };
}

/**
 * `count` video frames 40 ms apart from `from` (a keyframe every `gop`), each followed by an audio frame of
 * the same time; returns every frame made, so a test can check they were all given back.
 */
export function av(feed: Feeder, from: number, count: number, gop = 25, options: { audio?: boolean; start?: number } = {}): Frame[] {
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) {
    const n = from + i;
    const ts = (options.start ?? 0) + n * 40;
    const v = videoFrame(ts, n % gop === 0);
    feed(v, EPOCH + n * 40);
    frames.push(v);
    if (options.audio !== false) {
      const a = audioFrame(ts);
      feed(a, EPOCH + n * 40);
      frames.push(a);
    }
  }
  return frames;
}

/** The timestamps an AAC 44.1 kHz encoder stamps its frames with (1024 samples each), rounded to ms: 0, 23, 46, 70, ... */
export function aacStamps(untilMs: number): number[] {
  const stamps: number[] = [];
  for (let i = 0; Math.round((i * 1024_000) / 44_100) < untilMs; i++) stamps.push(Math.round((i * 1024_000) / 44_100));
  return stamps;
}

/**
 * A publisher's interleaving: video every 40 ms from 0 (a keyframe every `gop` frames) and audio at `audio`'s
 * times, fed in timestamp order up to `untilMs` (at equal times audio first when `audioFirst`), each arriving
 * at its time; returns every frame made.
 */
export function interleaved(
  feed: Feeder,
  untilMs: number,
  { audio = aacStamps(untilMs), video = true, gop = 25, audioFirst = true }: { audio?: number[]; video?: boolean; gop?: number; audioFirst?: boolean } = {},
): Frame[] {
  const made: Frame[] = [];
  const videoStamps = video ? Array.from({ length: Math.ceil(untilMs / 40) }, (_, n) => n * 40) : [];
  let a = 0;
  let v = 0;
  while (a < audio.length || v < videoStamps.length) {
    const audioNext = v === videoStamps.length || (a < audio.length && (audio[a] < videoStamps[v] || (audio[a] === videoStamps[v] && audioFirst)));
    const frame = audioNext ? audioFrame(audio[a++]) : videoFrame(videoStamps[v], v % gop === 0, 100);
    if (!audioNext) v++;
    feed(frame, EPOCH + frame.timestamp);
    made.push(frame);
  }
  return made;
}

export interface Traf {
  trackId: number;
  baseDecodeTime: number;
  samples: number;
}

/** The bytes of a Blob the segmenter made, at once: Bun settles the read of a Blob held in memory as it is made. */
export function bytesOf(blob: Blob): Uint8Array {
  const bytes = Bun.peek(blob.bytes());
  if (bytes instanceof Promise) throw new Error("a Blob whose bytes are not in memory");
  return bytes;
}

/** The runs of one fragment (moof + mdat), in order: track, decode time, sample count. */
export function trafs(fragment: Uint8Array | Blob): Traf[] {
  return readFragment(fragment instanceof Blob ? bytesOf(fragment) : fragment).runs.map((r) => ({ trackId: r.trackId, baseDecodeTime: r.baseDecodeTime, samples: r.samples.length }));
}
