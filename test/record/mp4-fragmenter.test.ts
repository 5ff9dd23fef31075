/**
 * The MP4 recording's fragmenter, fed the frames of a real FFmpeg-made FLV (H.264 + AAC, a keyframe a second)
 * and read back with the test box reader: where fragments end (each GOP, 1 s at most, all-intra grouped), every
 * sample exactly once with its duration from the next one, and every frame it held given back.
 */
import { beforeAll, describe, expect, it } from "bun:test";
import { type TrackConfig, sampleOf, ticks, trackConfig } from "../../src/media/fmp4/track.ts";
import { Frame } from "../../src/media/frame.ts";
import { isAudioSequenceHeader, isVideoSequenceHeader } from "../../src/media/codec-info.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { FRAGMENT_MS, MIN_KEYFRAME_FRAGMENT_MS, Mp4Fragmenter, type RunStart } from "../../src/record/mp4-fragmenter.ts";
import { flvTags, mediaTags } from "../../support/fed-stream.ts";
import type { FlvTag } from "../../support/flv-tags.ts";
import { testSource } from "../../support/test-source.ts";
import { countHolders, holders } from "../helpers/frame-holders.ts";
import { readFragment } from "../../support/fmp4.ts";
import { requireFfmpeg } from "../helpers/media.ts";

interface Written {
  runs: ReturnType<typeof readFragment>["runs"];
  starts: readonly RunStart[];
  sequenceNumber: number;
}

/** Feeds `tags` (file time = tag time - the first's) to a fragmenter of `tracks`, then flushes. */
function fragmentTags(tracks: TrackConfig[], tags: readonly FlvTag[]) {
  const written: Written[] = [];
  const fragmenter = new Mp4Fragmenter(tracks, (bytes, starts) => written.push({ ...readFragment(bytes), starts }));
  const frames: Frame[] = [];
  const start = tags[0].timestamp;
  for (const tag of tags) {
    const video = tag.type === MessageType.Video;
    const frame = countHolders(new Frame(tag.type, tag.timestamp, tag.data, video && tag.data[0] >> 4 === 1, false));
    frames.push(frame);
    fragmenter.add(tracks.find((t) => t.kind === (video ? "video" : "audio"))!, frame, tag.timestamp - start);
    frame.release();
  }
  fragmenter.flush();
  return { written, frames, fragmenter };
}

/** A copy of a video tag with its frame type changed: 1 keyframe, 2 inter frame. */
function asFrameType(tag: FlvTag, frameType: 1 | 2): FlvTag {
  const data = tag.data.slice();
  data[0] = (frameType << 4) | (data[0] & 0x0f);
  return { ...tag, data };
}

const ms = (ticksValue: number, track: TrackConfig) => (ticksValue * 1000) / track.timescale;

describe.skipIf(!requireFfmpeg())("the MP4 fragmenter", () => {
  let media: FlvTag[];
  let video: TrackConfig;
  let audio: TrackConfig;

  beforeAll(async () => {
    const tags = await flvTags(await testSource());
    media = mediaTags(tags);
    video = trackConfig("video", tags.find((t) => t.type === MessageType.Video && isVideoSequenceHeader(t.data))!.data, 1)!;
    audio = trackConfig("audio", tags.find((t) => t.type === MessageType.Audio && isAudioSequenceHeader(t.data))!.data, 2)!;
  });

  it("opens a fragment at every keyframe of 1 s GOPs, each holding every sample once, with durations from the next", () => {
    const { written, frames } = fragmentTags([video, audio], media);
    const keyframes = media.filter((t) => t.type === MessageType.Video && sampleOf(t.type, t.data)?.keyframe === true);
    expect(written).toHaveLength(keyframes.length);
    expect(written.map((w) => w.sequenceNumber)).toEqual(written.map((_, i) => i + 1));
    for (const w of written) {
      expect(w.runs.map((r) => r.trackId)).toEqual([1, 2]);
      expect(w.runs[0].samples[0].sync).toBe(true);
      expect(w.starts.map((s) => s.sync)).toEqual([true, true]);
    }

    for (const track of [video, audio]) {
      // Not the end-of-sequence message FFmpeg closes its video with: it carries no sample.
      const type = track.kind === "video" ? MessageType.Video : MessageType.Audio;
      const source = media.filter((t) => t.type === type && sampleOf(t.type, t.data) !== null);
      const runs = written.map((w) => w.runs.find((r) => r.trackId === track.id)!);
      const samples = runs.flatMap((r) => r.samples);
      // Every sample once, in order, its bytes as the body carried them.
      expect(samples.map((s) => Buffer.from(s.data))).toEqual(source.map((t) => Buffer.from(sampleOf(t.type, t.data)!.data)));
      const dts = source.map((t) => ticks(t.timestamp - media[0].timestamp, track.timescale));
      // A sample lasts until the next one; the last as long as the one before it.
      const durations = dts.slice(1).map((d, i) => d - dts[i]);
      expect(samples.map((s) => s.duration)).toEqual([...durations, durations.at(-1)!]);
      // Each run starts where its first sample is decoded, so the runs tile the track's timeline.
      let at = 0;
      for (const run of runs) {
        expect(run.baseDecodeTime).toBe(dts[at]);
        at += run.samples.length;
      }
    }
    // Nothing is kept: every frame the fragmenter retained was released once its fragment was made.
    expect(frames.every((f) => holders(f) === 0)).toBe(true);
  });

  it("ends a fragment after 1 s of a long GOP, and still opens one at every keyframe", () => {
    // Every third keyframe kept: 3 s GOPs.
    let keyframe = 0;
    const tags = media.map((t) =>
      t.type === MessageType.Video && t.data[0] >> 4 === 1 && keyframe++ % 3 !== 0 ? asFrameType(t, 2) : t,
    );
    const { written } = fragmentTags([video, audio], tags);
    const videoRuns = written.map((w) => w.runs.find((r) => r.trackId === 1)!);
    const lengths = videoRuns.map((r) => ms(r.samples.reduce((n, s) => n + s.duration, 0), video));
    expect(Math.max(...lengths)).toBeLessThanOrEqual(FRAGMENT_MS + 40);
    expect(videoRuns.filter((r) => r.samples[0].sync)).toHaveLength(3);
    // The keyframes are each the first sample of a fragment.
    expect(videoRuns.flatMap((r) => r.samples.slice(1)).some((s) => s.sync)).toBe(false);
    expect(written.length).toBeGreaterThanOrEqual(8);
  });

  it("groups all-intra video into fragments of about MIN_KEYFRAME_FRAGMENT_MS", () => {
    const tags = media.map((t) => (t.type === MessageType.Video ? asFrameType(t, 1) : t));
    const { written } = fragmentTags([video, audio], tags);
    const lengths = written.map((w) => ms(w.runs[0].samples.reduce((n, s) => n + s.duration, 0), video));
    // At least that long from the fragment's earliest sample (audio may lead its video by a few ms), and no
    // more than a frame past it.
    for (const length of lengths.slice(0, -1)) {
      expect(length).toBeGreaterThanOrEqual(MIN_KEYFRAME_FRAGMENT_MS - 40);
      expect(length).toBeLessThanOrEqual(MIN_KEYFRAME_FRAGMENT_MS + 40);
    }
  });

  it("cuts an audio-only stream every second", () => {
    const only = mediaTags(media).filter((t) => t.type === MessageType.Audio);
    const solo = { ...audio, id: 1 };
    const { written } = fragmentTags([solo], only);
    expect(written.length).toBe(8);
    for (const w of written.slice(0, -1)) {
      const length = ms(w.runs[0].samples.reduce((n, s) => n + s.duration, 0), solo);
      expect(length).toBeGreaterThan(FRAGMENT_MS - 30);
      expect(length).toBeLessThanOrEqual(FRAGMENT_MS + 30);
    }
    expect(written.flatMap((w) => w.runs[0].samples)).toHaveLength(only.length);
  });

  it("gives a sample before a clock step back no duration, never a negative one", () => {
    const tags = media.filter((t) => t.type === MessageType.Video).slice(0, 4);
    const stamped = [0, 40, 20, 80].map((timestamp, i) => ({ ...tags[i], timestamp }));
    const { written } = fragmentTags([video], stamped);
    expect(written.flatMap((w) => w.runs[0].samples.map((s) => s.duration))).toEqual([3600, 0, 3600, 3600]);
  });

  it("lets go of every frame it holds when the file is given up", () => {
    const written: Uint8Array[] = [];
    const fragmenter = new Mp4Fragmenter([video, audio], (bytes) => written.push(bytes));
    const frames = media.slice(0, 30).map((tag) => {
      const frame = countHolders(new Frame(tag.type, tag.timestamp, tag.data, tag.data[0] >> 4 === 1, false));
      fragmenter.add(tag.type === MessageType.Video ? video : audio, frame, tag.timestamp - media[0].timestamp);
      frame.release();
      return frame;
    });
    expect(frames.some((f) => holders(f) > 0)).toBe(true);
    fragmenter.discard();
    expect(frames.every((f) => holders(f) === 0)).toBe(true);
    expect(written).toHaveLength(0);
  });
});
