import { describe, expect, it } from "bun:test";
import type { Frame } from "../../src/media/frame.ts";
import { FileNames } from "../../src/hls/file-names.ts";
import { type PlaylistSource, playlistTemplate } from "../../src/hls/playlist.ts";
import { MAX_SEGMENT_BYTES, MAX_WINDOW_BYTES, type Part, Segmenter } from "../../src/hls/segmenter.ts";
import { holders } from "../helpers/frame-holders.ts";
import { hex } from "../helpers/hex.ts";
import { VIDEO } from "../fixtures/sequence-headers.ts";
import { readFragment } from "../../support/fmp4.ts";
import { aacStamps, av, bytesOf, audioFrame, audioHeader, EPOCH, type Feeder, fed, interleaved, SETTINGS, trafs, videoFrame, videoHeader } from "./synthetic.ts";

const NAMES = new FileNames("abc");

/** A playlist's text for one viewer's query, as the muxer serves it. */
function renderPlaylist(source: PlaylistSource, names: FileNames, lowLatency: boolean, query: string): string {
  return playlistTemplate(source, names, lowLatency).join(query);
}

/** Every part of the segments made and of the open one, in order. */
function allParts(segmenter: Segmenter): Part[] {
  return [...segmenter.segments, ...(segmenter.open === null ? [] : [segmenter.open])].flatMap((s) => s.parts);
}

/**
 * Every sample the parts hold, per track id, in order: its decode time; and each place where a run does not
 * begin where its track's previous run ended.
 */
function samplesOut(parts: readonly Part[]): { times: Map<number, number[]>; breaks: string[] } {
  const times = new Map<number, number[]>();
  const ends = new Map<number, number>();
  const breaks: string[] = [];
  for (const part of parts) {
    for (const run of readFragment(bytesOf(part.body)).runs) {
      const end = ends.get(run.trackId);
      if (end !== undefined && run.baseDecodeTime !== end) breaks.push(`part ${part.index} track ${run.trackId}: ${run.baseDecodeTime} after ${end}`);
      let t = run.baseDecodeTime;
      for (const sample of run.samples) {
        times.set(run.trackId, [...(times.get(run.trackId) ?? []), t]);
        t += sample.duration;
      }
      ends.set(run.trackId, t);
    }
  }
  return { times, breaks };
}

/** The decode times frames stamped `stamps` get, the first keyframe (stamped `first`) at the timeline's 10 s. */
function decodeTimes(stamps: number[], first: number, timescale: number): number[] {
  return stamps.map((ts) => Math.round(((10_000 + ts - first) * timescale) / 1000));
}

/** The stamps of the audio and video frames among `frames`, from the first keyframe on (before it nothing can start). */
function stampsFromKeyframe(frames: Frame[]): { audio: number[]; video: number[] } {
  const from = Math.max(0, frames.findIndex((f) => f.video && f.keyframe));
  const after = frames.slice(from);
  return { audio: after.filter((f) => !f.video).map((f) => f.timestamp), video: after.filter((f) => f.video).map((f) => f.timestamp) };
}

/** Every frame fed is back to its creator's one reference. */
function allReleased(frames: Frame[]): boolean {
  return frames.every((f) => holders(f) === 1);
}

describe("Segmenter", () => {
  it("starts its target duration at what segments will last, from the stream's keyframe interval", () => {
    const target = (segmentMs: number, keyframeIntervalMs: number) =>
      new Segmenter({ ...SETTINGS, segmentMs, keyframeIntervalMs }, { msn: 0, discontinuity: 0 }, () => {}).targetDuration;
    expect(target(1000, 0)).toBe(1); // unknown: hls.segment
    expect(target(1000, 2000)).toBe(2); // each segment is one 2 s GOP
    expect(target(1000, 1500)).toBe(2); // 1.5 s rounds to 2
    expect(target(1000, 400)).toBe(1); // three 400 ms GOPs: 1.2 s
    expect(target(4000, 3000)).toBe(6); // two 3 s GOPs
    expect(target(2500, 0)).toBe(3);
  });

  it("publishes a part every 200 ms and ends a segment at the first keyframe after 1 s", () => {
    const { segmenter, feed, published } = fed();
    av(feed, 0, 25);
    expect(segmenter.segments).toHaveLength(0);
    expect(segmenter.open?.parts.map((p) => p.durationMs)).toEqual([200, 200, 200, 200]);
    expect(published()).toBe(4);
    av(feed, 25, 1);
    expect(segmenter.segments.map((s) => [s.msn, s.durationMs, s.parts.length])).toEqual([[0, 1000, 5]]);
    expect(segmenter.segments[0].parts.map((p) => p.independent)).toEqual([true, false, false, false, false]);
    // The first part: five video frames from the keyframe, and the audio whose successor had come.
    expect(trafs(segmenter.segments[0].parts[0].body)).toEqual([
      { trackId: 1, baseDecodeTime: 900_000, samples: 5 },
      { trackId: 2, baseDecodeTime: 441_000, samples: 4 },
    ]);
    expect(segmenter.segments[0].bytes).toBe(segmenter.segments[0].parts.reduce((n, p) => n + p.body.size, 0));
  });

  it("renders the low-latency playlist: parts, the open segment's parts, the preload hint, the query in every URI", () => {
    const { segmenter, feed } = fed();
    av(feed, 0, 31);
    const partLines = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `#EXT-X-PART:DURATION=0.200,URI="abc-part${from + i}.m4s?token=t"${from + i === 0 ? ",INDEPENDENT=YES" : ""}`);
    expect(renderPlaylist(segmenter, NAMES, true, "?token=t")).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        "#EXT-X-TARGETDURATION:1",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600",
        "#EXT-X-PART-INF:PART-TARGET=0.200",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        '#EXT-X-MAP:URI="abc-init0.mp4?token=t"',
        "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z",
        ...partLines(0, 5),
        "#EXTINF:1.000,",
        "abc-seg0.m4s?token=t",
        "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.000Z",
        '#EXT-X-PART:DURATION=0.200,URI="abc-part5.m4s?token=t",INDEPENDENT=YES',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="abc-part6.m4s?token=t"',
        "",
      ].join("\n"),
    );
  });

  it("renders plain HLS as segments only", () => {
    const { segmenter, feed } = fed();
    av(feed, 0, 51);
    expect(renderPlaylist(segmenter, NAMES, false, "")).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        "#EXT-X-TARGETDURATION:1",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        '#EXT-X-MAP:URI="abc-init0.mp4"',
        "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z",
        "#EXTINF:1.000,",
        "abc-seg0.m4s",
        "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.000Z",
        "#EXTINF:1.000,",
        "abc-seg1.m4s",
        "",
      ].join("\n"),
    );
  });

  it("lists parts only near the live edge (three target durations)", () => {
    const { segmenter, feed } = fed();
    av(feed, 0, 126);
    const text = renderPlaylist(segmenter, NAMES, true, "");
    expect(segmenter.segments.map((s) => s.msn)).toEqual([0, 1, 2, 3, 4]);
    // Segments 1 to 4 end within 3 s of the end; 0 does not.
    expect(text).not.toContain('URI="abc-part4.m4s"');
    expect(text).toContain('URI="abc-part5.m4s"');
  });

  it("lists hls.window segments and serves the last few that left, then lets them go", () => {
    const { segmenter, feed } = fed();
    av(feed, 0, 25 * 12 + 1);
    expect(segmenter.segments.map((s) => s.msn)).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(segmenter.mediaSequence).toBe(5);
    // Segments 2 to 4 left the playlist but are still served; 1 is gone.
    expect(segmenter.segment(2)?.msn).toBe(2);
    expect(segmenter.part(10)?.index).toBe(10);
    expect(segmenter.segment(1)).toBeUndefined();
    expect(segmenter.part(9)).toBeUndefined();
    expect(segmenter.segment(11)?.msn).toBe(11);
    expect(segmenter.segment(12)).toBeUndefined();
  });

  it("makes a segment at once of what it was fed when cut (a muxer started from the GOP cache), then goes on to the next keyframe", () => {
    const { segmenter, feed, frames } = fed();
    // The GOP cache: a keyframe and 12 frames after it.
    frames.push(...av(feed, 25, 13));
    segmenter.cut();
    // Up to the last frame, which waits for its duration.
    expect(segmenter.segments.map((s) => [s.msn, s.durationMs])).toEqual([[0, 480]]);
    expect(segmenter.segments[0].parts[0].independent).toBe(true);
    // Live frames continue the GOP: the next segment needs no keyframe to start, and ends at the next one.
    av(feed, 38, 13);
    expect(segmenter.segments.map((s) => [s.msn, s.durationMs])).toEqual([
      [0, 480],
      [1, 520],
    ]);
    expect(segmenter.segments[1].parts[0].independent).toBe(false);
    expect(trafs(segmenter.segments[1].parts[0].body)[0].baseDecodeTime).toBe(ticks90k(10_000 + 12 * 40));
    av(feed, 51, 1);
    expect(segmenter.open?.parts ?? []).toHaveLength(0);
    segmenter.close();
    expect(allReleased(frames)).toBe(true);
  });

  it("gives a republish a discontinuity, a new init section and a timeline that goes on", () => {
    const { segmenter, feed, frames } = fed();
    av(feed, 0, 30);
    segmenter.end();
    expect(segmenter.segments.map((s) => [s.msn, s.durationMs])).toEqual([
      [0, 1000],
      [1, 200],
    ]);
    // The new publisher starts its timestamps over.
    frames.push(videoHeader(), audioHeader());
    segmenter.frame(frames.at(-2)!, EPOCH + 5000);
    segmenter.frame(frames.at(-1)!, EPOCH + 5000);
    frames.push(...av(feed, 0, 26));
    const [, , third] = segmenter.segments;
    expect(third.discontinuity).toBe(true);
    expect(third.init.id).toBe(1);
    expect(trafs(third.parts[0].body)[0].baseDecodeTime).toBe(ticks90k(10_000 + 1200));
    const text = renderPlaylist(segmenter, NAMES, false, "");
    expect(text).toContain(
      ["#EXTINF:0.200,", "abc-seg1.m4s", "#EXT-X-DISCONTINUITY", '#EXT-X-MAP:URI="abc-init1.mp4"'].join("\n"),
    );
    // Once the segment before the discontinuity leaves the window, the discontinuity sequence counts it.
    av(feed, 26, 25 * 7);
    expect(segmenter.segments[0].msn).toBeGreaterThan(2);
    expect(segmenter.discontinuitySequence).toBe(1);
    segmenter.close();
    expect(allReleased(frames)).toBe(true);
  });

  it("treats a new sequence header as a codec change: discontinuity and new init; the same one again changes nothing", () => {
    const { segmenter, feed } = fed();
    av(feed, 0, 26);
    feed(videoHeader(), EPOCH + 1040);
    av(feed, 26, 25);
    expect(segmenter.segments.map((s) => s.discontinuity)).toEqual([false, false]);
    feed(videoHeader(hex(VIDEO[0].payload)), EPOCH + 2040);
    av(feed, 51, 51);
    // The segment cut short by the change, then the first one of the new codec, from its first keyframe.
    expect(segmenter.segments.map((s) => [s.msn, s.discontinuity, s.init.id])).toEqual([
      [0, false, 0],
      [1, false, 0],
      [2, false, 0],
      [3, true, 1],
    ]);
  });

  it("unwraps 32-bit timestamps: decode times keep growing past 2^32 ms", () => {
    const { segmenter, feed } = fed();
    const start = 2 ** 32 - 600;
    av(feed, 0, 51, 25, { start });
    const times = segmenter.segments.flatMap((s) => s.parts.map((p) => trafs(p.body)[0].baseDecodeTime));
    expect(times).toEqual(times.map((_, i) => ticks90k(10_000 + i * 200)));
  });

  it("keeps decode times from going back when a publisher's timestamps do", () => {
    const { segmenter, feed } = fed();
    av(feed, 0, 10);
    feed(videoFrame(300, false), EPOCH + 400);
    av(feed, 11, 16);
    const durations = segmenter.segments[0].parts.map((p) => p.durationMs);
    expect(durations.every((d) => d >= 0)).toBe(true);
  });

  it("cuts audio-only streams anywhere, every part independent", () => {
    let published = 0;
    const segmenter = new Segmenter(SETTINGS, { msn: 5, discontinuity: 2 }, () => published++);
    segmenter.frame(audioHeader(), EPOCH);
    for (let i = 0; i < 60; i++) segmenter.frame(audioFrame(i * 40), EPOCH + i * 40);
    expect(segmenter.hasVideo).toBe(false);
    expect(segmenter.segments.map((s) => [s.msn, s.durationMs, s.discontinuityNumber])).toEqual([[5, 1000, 2], [6, 1000, 2]]);
    expect(segmenter.segments.flatMap((s) => s.parts.map((p) => p.independent)).every(Boolean)).toBe(true);
    expect(trafs(segmenter.segments[0].parts[0].body).map((t) => t.trackId)).toEqual([1]);
  });

  it("ends a segment that outgrows its byte bound without waiting for a keyframe", () => {
    const { segmenter, feed } = fed({ ...SETTINGS, window: 2 });
    // One keyframe, then huge delta frames forever.
    feed(videoFrame(0, true, 1000), EPOCH);
    let frames = 0;
    for (let i = 1; segmenter.mediaSequence < 3 && i < 1_000; i++) {
      feed(videoFrame(i * 40, false, 1024 * 1024), EPOCH + i * 40);
      frames++;
    }
    // Three segments made and gone or kept, each ended by its size (a part past the bound at most).
    expect(segmenter.mediaSequence).toBe(3);
    expect(frames).toBeGreaterThan(3 * 32);
    expect(segmenter.segments.every((s) => s.bytes <= MAX_SEGMENT_BYTES + 8 * 1024 * 1024)).toBe(true);
    // The window keeps what fits in its bound (one such segment), whatever hls.window says.
    expect(segmenter.segments).toHaveLength(1);
    expect(segmenter.bytes).toBeLessThanOrEqual(MAX_WINDOW_BYTES);
  });

  describe("puts every frame fed from the first keyframe in exactly one part, decode times contiguous", () => {
    const cases: [string, (feed: Feeder) => Frame[]][] = [
      ["AAC audio around every keyframe, audio first at equal times", (feed) => interleaved(feed, 5_000)],
      ["AAC audio, video first at equal times", (feed) => interleaved(feed, 5_000, { audioFirst: false })],
      ["audio every 40 ms, each after its video frame", (feed) => interleaved(feed, 5_000, { audio: stamps40(5_000), audioFirst: false })],
      ["audio every 40 ms, each before its video frame", (feed) => interleaved(feed, 5_000, { audio: stamps40(5_000) })],
      ["a keyframe every 13 frames (segments of 1040 ms)", (feed) => interleaved(feed, 5_000, { gop: 13 })],
    ];
    for (const [name, feedStream] of cases) {
      it(name, () => {
        const { segmenter, feed } = fed({ ...SETTINGS, window: 100 });
        const frames = feedStream(feed);
        segmenter.end();
        expect(segmenter.segments.length).toBeGreaterThanOrEqual(4);
        const { times, breaks } = samplesOut(allParts(segmenter));
        const stamps = stampsFromKeyframe(frames);
        expect(breaks).toEqual([]);
        expect(times.get(1)).toEqual(decodeTimes(stamps.video, 0, 90_000));
        expect(times.get(2)).toEqual(decodeTimes(stamps.audio, 0, 44_100));
        expect(segmenter.segments.every((s) => s.parts[0].independent)).toBe(true);
        segmenter.close();
        expect(allReleased(frames)).toBe(true);
      });
    }

    const singleTrack: [string, Frame, { video?: boolean; audio?: number[] }, number[]][] = [
      ["of an audio-only stream", audioHeader(), { video: false }, decodeTimes(aacStamps(5_000), 0, 44_100)],
      ["of a video-only stream", videoHeader(), { audio: [] }, decodeTimes(stamps40(5_000), 0, 90_000)],
    ];
    for (const [name, header, options, expected] of singleTrack) {
      it(name, () => {
        const segmenter = new Segmenter({ ...SETTINGS, window: 100 }, { msn: 0, discontinuity: 0 }, () => {});
        const feed: Feeder = (frame, arrival) => segmenter.frame(frame, arrival);
        feed(header, EPOCH);
        const frames = interleaved(feed, 5_000, options);
        segmenter.end();
        const { times, breaks } = samplesOut(allParts(segmenter));
        expect(breaks).toEqual([]);
        expect([...times.entries()]).toEqual([[1, expected]]);
        segmenter.close();
        expect(allReleased(frames)).toBe(true);
      });
    }

    it("across a cut that starts a muxer from the GOP cache", () => {
      const { segmenter, feed } = fed({ ...SETTINGS, window: 100 });
      const frames: Frame[] = [];
      // The cache: frames from 3 s (a keyframe) to 3.5 s; then the live ones.
      const cached = interleaved((f) => frames.push(f), 5_000).filter((f) => f.timestamp >= 3_000);
      let cut = false;
      for (const frame of cached) {
        if (!cut && frame.timestamp >= 3_500) {
          segmenter.cut();
          cut = true;
        }
        feed(frame, EPOCH + frame.timestamp);
      }
      segmenter.end();
      const { times, breaks } = samplesOut(allParts(segmenter));
      const stamps = stampsFromKeyframe(cached);
      expect(breaks).toEqual([]);
      expect(times.get(1)).toEqual(decodeTimes(stamps.video, 3_000, 90_000));
      expect(times.get(2)).toEqual(decodeTimes(stamps.audio, 3_000, 44_100));
      segmenter.close();
      expect(allReleased(frames)).toBe(true);
    });

    it("across a republish: each publication whole, the second after the first", () => {
      const { segmenter, feed } = fed({ ...SETTINGS, window: 100 });
      const first = interleaved(feed, 3_000);
      segmenter.end();
      feed(videoHeader(), EPOCH + 4_000);
      feed(audioHeader(), EPOCH + 4_000);
      // The new publisher starts its timestamps over, and arrives a second later.
      const second = interleaved((frame, arrival) => feed(frame, arrival + 4_000), 3_000);
      segmenter.end();
      const discontinuity = segmenter.segments.findIndex((s) => s.discontinuity);
      expect(discontinuity).toBeGreaterThan(0);
      const before = samplesOut(segmenter.segments.slice(0, discontinuity).flatMap((s) => s.parts));
      const after = samplesOut(segmenter.segments.slice(discontinuity).flatMap((s) => s.parts));
      expect([before.breaks, after.breaks]).toEqual([[], []]);
      expect(before.times.get(2)).toEqual(decodeTimes(stampsFromKeyframe(first).audio, 0, 44_100));
      expect(before.times.get(1)).toEqual(decodeTimes(stampsFromKeyframe(first).video, 0, 90_000));
      expect(after.times.get(2)).toHaveLength(stampsFromKeyframe(second).audio.length);
      expect(after.times.get(1)).toHaveLength(stampsFromKeyframe(second).video.length);
      // The second publication's decode times go on from where the first one's ended.
      expect(after.times.get(1)![0]).toBeGreaterThanOrEqual(before.times.get(1)!.at(-1)!);
      expect(after.times.get(2)![0]).toBeGreaterThanOrEqual(before.times.get(2)!.at(-1)!);
      segmenter.close();
      expect(allReleased([...first, ...second])).toBe(true);
    });
  });

  it("gives back every frame it held once closed", () => {
    const { segmenter, feed, frames } = fed();
    frames.push(...av(feed, 0, 40));
    segmenter.close();
    expect(allReleased(frames)).toBe(true);
  });
});

/** Audio stamped like the video: every 40 ms from 0. */
function stamps40(untilMs: number): number[] {
  return Array.from({ length: untilMs / 40 }, (_, n) => n * 40);
}

function ticks90k(ms: number): number {
  return Math.round(ms * 90);
}
