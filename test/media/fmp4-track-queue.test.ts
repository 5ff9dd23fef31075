/**
 * TrackQueue: one track's samples on their way into fMP4 fragments. Durations as differences of decode ticks,
 * the held sample's duration at a flush, each run's base decode time, and every frame it retains given back.
 */
import { describe, expect, it } from "bun:test";
import { fragment } from "../../src/media/fmp4/fragment.ts";
import { sampleOf, trackConfig } from "../../src/media/fmp4/track.ts";
import { type QueuedSample, TrackQueue, gathered } from "../../src/media/fmp4/track-queue.ts";
import { Frame } from "../../src/media/frame.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { readFragment } from "../../support/fmp4.ts";
import { countHolders, holders } from "../helpers/frame-holders.ts";
import { hex } from "../helpers/hex.ts";

/** H.264 640x360 (90 kHz), AAC 44.1 kHz stereo. */
const H264 = trackConfig("video", hex(VIDEO[1].payload), 1)!;
const AAC = trackConfig("audio", hex(AUDIO[0].payload), 2)!;

/** A legacy AVC coded frame of `size` bytes of `fill`, with composition time `cts`. */
function videoFrame(keyframe: boolean, fill: number, size = 4, cts = 0): Frame {
  const payload = new Uint8Array(5 + size).fill(fill);
  payload.set([keyframe ? 0x17 : 0x27, 1, (cts >> 16) & 0xff, (cts >> 8) & 0xff, cts & 0xff]);
  return countHolders(new Frame(MessageType.Video, 0, payload, keyframe, false));
}

function audioFrame(fill: number, size = 3): Frame {
  const payload = new Uint8Array(2 + size).fill(fill);
  payload.set([0xaf, 1]);
  return countHolders(new Frame(MessageType.Audio, 0, payload, false, false));
}

/** push() as a caller does it: the frame's own reference is released right after. */
function push(queue: TrackQueue, frame: Frame, ms: number): QueuedSample | null {
  const previous = queue.push(frame, sampleOf(frame.type, frame.payload)!, ms);
  frame.release();
  return previous;
}

function durations(queue: TrackQueue): number[] {
  return queue.samples.map((s) => s.duration);
}

describe("TrackQueue", () => {
  it("gives each sample the difference of decode ticks to the next one of its track", () => {
    const queue = new TrackQueue(AAC);
    expect(push(queue, audioFrame(1), 0)).toBeNull();
    // 44.1 kHz: 0, 23, 46, 70 ms are ticks 0, 1014, 2029, 3087 (rounded each, so no error adds up).
    for (const ms of [23, 46, 70]) queue.gather(push(queue, audioFrame(ms), ms)!);
    expect(durations(queue)).toEqual([1014, 1015, 1058]);
    expect(queue.samples.map((s) => s.dts)).toEqual([0, 1014, 2029]);
    expect(queue.held).toMatchObject({ dts: 3087, ms: 70, duration: 0 });
    expect(queue.end).toBe(3087);
  });

  it("carries the sample's data, sync flag and composition offset in ticks", () => {
    const queue = new TrackQueue(H264);
    push(queue, videoFrame(true, 0xaa, 4, 80), 1000);
    const first = push(queue, videoFrame(false, 0xbb, 2), 1040)!;
    expect(first).toMatchObject({ data: Uint8Array.of(0xaa, 0xaa, 0xaa, 0xaa), sync: true, dts: 90_000, duration: 3600 });
    expect(first.compositionOffset).toBe(7200);
    expect(queue.held).toMatchObject({ data: Uint8Array.of(0xbb, 0xbb), sync: false, compositionOffset: 0 });
  });

  it("never lets a decode time go back: a caller's clock that steps back gives a sample of no duration", () => {
    const queue = new TrackQueue(H264);
    push(queue, videoFrame(true, 1), 1000);
    queue.gather(push(queue, videoFrame(false, 2), 900)!);
    queue.gather(push(queue, videoFrame(false, 3), 1040)!);
    expect(durations(queue)).toEqual([0, 3600]);
    expect(queue.samples.map((s) => [s.ms, s.givenMs])).toEqual([
      [1000, 1000],
      [1000, 900],
    ]);
  });

  it("holds one reference to a frame while the sample is held or gathered, and gives it back with the run", () => {
    const queue = new TrackQueue(H264);
    const frames = [videoFrame(true, 1), videoFrame(false, 2), videoFrame(false, 3)];
    push(queue, frames[0], 0);
    expect(frames.map(holders)).toEqual([1, 1, 1]);
    queue.gather(push(queue, frames[1], 40)!);
    queue.gather(push(queue, frames[2], 80)!);
    expect(frames.map(holders)).toEqual([1, 1, 1]);
    queue.releaseRun();
    expect(frames.map(holders)).toEqual([0, 0, 1]);
    expect(queue.samples).toEqual([]);
    expect(queue.bytes).toBe(0);
  });

  it("flushes the held sample with the last duration gathered, or the first duration before any", () => {
    const guessed = new TrackQueue(AAC, 1024);
    push(guessed, audioFrame(1), 0);
    expect(guessed.flush()).toMatchObject({ dts: 0, duration: 1024 });
    expect(guessed.held).toBeNull();
    expect(guessed.flush()).toBeNull();

    const queue = new TrackQueue(H264);
    push(queue, videoFrame(true, 1), 0);
    queue.gather(push(queue, videoFrame(false, 2), 33)!);
    const last = queue.flush()!;
    expect(last).toMatchObject({ dts: 2970, duration: 2970 });
    queue.gather(last);
    expect(durations(queue)).toEqual([2970, 2970]);
    expect(queue.end).toBe(5940);
  });

  it("starts each run at the decode time of its first sample", () => {
    const queue = new TrackQueue(H264);
    push(queue, videoFrame(true, 0), 500);
    for (const ms of [540, 580]) queue.gather(push(queue, videoFrame(false, 1), ms)!);
    expect(queue.baseDecodeTime).toBe(45_000);
    queue.releaseRun();
    for (const ms of [620, 660]) queue.gather(push(queue, videoFrame(false, 1), ms)!);
    expect(queue.baseDecodeTime).toBe(52_200);
    expect(queue.samples.map((s) => s.dts)).toEqual([52_200, 55_800]);
  });

  it("is the run fragment() writes: track id, base decode time and samples", () => {
    const video = new TrackQueue(H264);
    const audio = new TrackQueue(AAC);
    push(video, videoFrame(true, 0xaa, 3, 40), 0);
    push(audio, audioFrame(0xcc, 2), 0);
    video.gather(push(video, videoFrame(false, 0xbb, 1), 40)!);
    audio.gather(push(audio, audioFrame(0xdd, 1), 23)!);
    expect(gathered([video, audio])).toEqual({ samples: 2, bytes: 5 });
    expect(readFragment(fragment(7, [video, audio]))).toEqual({
      sequenceNumber: 7,
      runs: [
        {
          trackId: 1,
          baseDecodeTime: 0,
          samples: [{ data: Uint8Array.of(0xaa, 0xaa, 0xaa), duration: 3600, compositionOffset: 3600, sync: true }],
        },
        { trackId: 2, baseDecodeTime: 0, samples: [{ data: Uint8Array.of(0xcc, 0xcc), duration: 1014, compositionOffset: 0, sync: true }] },
      ],
    });
  });

  it("holds no frame once closed", () => {
    const queue = new TrackQueue(H264);
    const frames = [videoFrame(true, 1), videoFrame(false, 2), videoFrame(false, 3)];
    push(queue, frames[0], 0);
    queue.gather(push(queue, frames[1], 40)!);
    queue.gather(push(queue, frames[2], 80)!);
    queue.close();
    expect(frames.map(holders)).toEqual([0, 0, 0]);
    expect(queue.held).toBeNull();
    expect(gathered([queue])).toEqual({ samples: 0, bytes: 0 });
  });
});
