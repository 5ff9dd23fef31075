/**
 * The Recorder fed the way a live stream feeds it, from the tags of a real FFmpeg-made FLV (H.264 + AAC,
 * a keyframe a second): complete files that ffprobe and ffmpeg read, seek in and index as we wrote them;
 * segments that lose and repeat nothing; stream selection; names; failures that stay inside the recording.
 */
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventChannel } from "../../src/events/events.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { Recorder, indexCapacity, MAX_INDEX_ENTRIES } from "../../src/record/recorder.ts";
import { capturedLog } from "../helpers/log-capture.ts";
import { type FlvTag } from "../../support/flv-tags.ts";
import { decodeErrors, probe, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { run } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { FedStream, flvTags, mediaTags } from "../../support/fed-stream.ts";
import {
  expectWholeTestSource,
  frameAfterSeek,
  indexAsRead,
  playability,
  readRecording,
  record,
  recordFallingBehind,
  recorders,
  recordingsIn,
} from "./recording-file.ts";

// Each test runs ffprobe and ffmpeg a few times: slow on a busy machine, never stuck.
setDefaultTimeout(30_000);
const scratch = scratchDir("recorder");
afterAll(() => scratch.remove());

/** A Recorder writing to a fresh directory, with its log and events captured. */
const recorder = recorders(scratch.path, "flv");

function isKeyframeTag(tag: FlvTag): boolean {
  return tag.type === MessageType.Video && tag.data[0] >> 4 === 1 && tag.data[1] === 1;
}

describe.skipIf(!requireFfmpeg())("the recorder, fed a real H.264+AAC stream", () => {
  let source: FlvTag[];
  let sourceMedia: FlvTag[];

  beforeAll(async () => {
    source = await flvTags(await testSource());
    sourceMedia = mediaTags(source);
  });

  it("writes one complete file: header flags, onMetaData with duration, size and index, headers, all media", async () => {
    const { rec, dir, events } = recorder();
    await record(rec, source);
    const [path] = recordingsIn(dir);
    expect(recordingsIn(dir)).toHaveLength(1);
    expect(path.slice(dir.length + 1)).toMatch(/^live_feed_\d{8}_\d{6}\.flv$/);
    const file = await readRecording(path);

    expect(file.flags).toBe(5);
    const lastMs = Math.max(...file.media.map((t) => t.timestamp));
    expect(file.meta.duration).toBe(lastMs / 1000);
    expect(file.meta.filesize).toBe(file.bytes.length);
    // The publisher's own properties come along.
    expect(file.meta).toMatchObject({ width: 320, height: 240, audiosamplerate: 44100 });
    // Then the sequence headers at 0, then every media frame of the source, rebased to start at 0.
    expect(file.tags.slice(1, 3).map((t) => [t.type, t.timestamp, t.data[1]])).toEqual([
      [9, 0, 0],
      [8, 0, 0],
    ]);
    expect(file.media.length).toBe(sourceMedia.length);
    const start = sourceMedia[0].timestamp;
    file.media.forEach((tag, i) => {
      expect(tag.timestamp).toBe(sourceMedia[i].timestamp - start);
      expect(Buffer.compare(tag.data, sourceMedia[i].data)).toBe(0);
    });

    // The index names every keyframe: its tag's offset and its time in seconds.
    const keyframes = file.tags.map((t, i) => ({ t, at: file.offsets[i] })).filter(({ t }) => isKeyframeTag(t));
    expect(file.meta.keyframes).toEqual({
      times: keyframes.map(({ t }) => t.timestamp / 1000),
      filepositions: keyframes.map(({ at }) => at),
    });

    expect(events.map((e) => [e.type, e.stream_key, e.data])).toEqual([
      ["record_start", "live/feed", { path }],
      ["record_stop", "live/feed", { path, size: file.bytes.length, duration_sec: lastMs / 1000 }],
    ]);
    expect(rec.stats()).toEqual({ active: 0, bytes: file.bytes.length, files: 1, errors: 0 });
  });

  it("makes a file ffprobe and ffmpeg read: duration, codecs, no decode error, a keyframe first, the index, seeking", async () => {
    const { rec, dir } = recorder();
    await record(rec, source);
    const [path] = recordingsIn(dir);
    const file = await readRecording(path);
    await expectWholeTestSource(path);

    // libavformat took our index: every entry, at the offsets we wrote (times in whole seconds, as it keeps them).
    const index = file.meta.keyframes as { times: number[]; filepositions: number[] };
    expect(await indexAsRead(path)).toEqual(
      index.filepositions.map((position, i) => ({ position, ms: Math.trunc(index.times[i]) * 1000 })),
    );
    // A seek to the middle lands on an indexed keyframe and decodes without complaint.
    const seek = await frameAfterSeek(path, 4.5);
    expect(seek.errors).toBe("");
    expect(seek.frame.key_frame).toBe(1);
    expect(index.times).toContainEqual(Number(seek.frame.pts_time));
    expect(Number(seek.frame.pts_time)).toBeGreaterThan(3.5);
    expect(Number(seek.frame.pts_time)).toBeLessThanOrEqual(4.5);
    const decoded = await run(["ffmpeg", "-v", "error", "-ss", "4.5", "-i", path, "-frames:v", "1", "-f", "null", "-"]);
    expect(decoded.stderr).toBe("");
    expect(decoded.code).toBe(0);
  });

  it("rebases to 0 a publisher whose clock starts near the 32-bit wrap and wraps mid-stream", async () => {
    const { rec, dir } = recorder();
    await record(rec, source, "wrap", 2 ** 32 - 3_000);
    const file = await readRecording(recordingsIn(dir)[0]);
    const start = sourceMedia[0].timestamp;
    expect(file.media.map((t) => t.timestamp)).toEqual(sourceMedia.map((t) => t.timestamp - start));
    expect((await probe(recordingsIn(dir)[0])).duration).toBeCloseTo(8, 1);
  });

  it("cuts segments at the first keyframe past recording.segment: each a complete file, no frame lost or repeated", async () => {
    const { rec, dir, events } = recorder({ segmentMs: 2_000 });
    await record(rec, source, "seg");
    const paths = recordingsIn(dir);
    expect(paths).toHaveLength(4);
    const files = await Promise.all(paths.map(readRecording));

    // Together the segments hold the source's media exactly, in order.
    const recorded = files.flatMap((f) => f.media);
    expect(recorded.length).toBe(sourceMedia.length);
    recorded.forEach((tag, i) => expect(Buffer.compare(tag.data, sourceMedia[i].data)).toBe(0));
    const played = await Promise.all(paths.map(playability));
    for (const [i, file] of files.entries()) {
      // Each opens like a file of its own: metadata, both sequence headers, media from 0.
      expect(file.tags.slice(1, 3).map((t) => [t.type, t.data[1]])).toEqual([[9, 0], [8, 0]]);
      expect(file.media[0].timestamp).toBe(0);
      if (i > 0) expect(isKeyframeTag(file.media[0])).toBe(true);
      expect((file.meta.keyframes as { times: number[] }).times[0]).toBeLessThan(0.1);
      expect(played[i].probed.duration).toBeGreaterThan(1.9);
      expect(played[i].probed.duration).toBeLessThan(2.1);
      expect(played[i].errors).toBe("");
      expect(played[i].startsWithKeyframe).toBe(true);
    }
    expect(events.filter((e) => e.type === "record_stop").map((e) => e.data.path)).toEqual(paths);
    // Room for every keyframe of a 2 s segment, and no more than a segment needs.
    expect(indexCapacity(2_000)).toBeLessThan(MAX_INDEX_ENTRIES);
  });

  it("records audio-only and video-only streams with the header flags of what is there", async () => {
    const audioOnly = recorder();
    await record(audioOnly.rec, source.filter((t) => t.type !== MessageType.Video), "audio");
    const audio = await readRecording(recordingsIn(audioOnly.dir)[0]);
    expect(audio.flags).toBe(4);
    expect(audio.meta.keyframes).toBeUndefined();
    const probedAudio = await probe(recordingsIn(audioOnly.dir)[0]);
    expect(probedAudio.streams.map((s) => s.codecType)).toEqual(["audio"]);
    expect(probedAudio.duration).toBeCloseTo(8, 1);

    const videoOnly = recorder();
    await record(videoOnly.rec, source.filter((t) => t.type !== MessageType.Audio), "video");
    expect((await readRecording(recordingsIn(videoOnly.dir)[0])).flags).toBe(1);
    expect(await decodeErrors(recordingsIn(videoOnly.dir)[0])).toBe("");
  });

  it("starts a stream joined mid-GOP at its next keyframe", async () => {
    const { rec, dir } = recorder();
    const firstKey = source.findIndex(isKeyframeTag);
    const secondKey = source.findIndex((t, i) => i > firstKey && isKeyframeTag(t));
    // Metadata and the video header, then video from halfway into the first GOP (audio would start a file).
    const video = source.filter((t) => t.type !== MessageType.Audio);
    const tags = [...video.slice(0, 2), ...video.slice(video.indexOf(source[firstKey]) + 10)];
    await record(rec, tags, "midgop");
    const file = await readRecording(recordingsIn(dir)[0]);
    expect(isKeyframeTag(file.media[0])).toBe(true);
    expect(Buffer.compare(file.media[0].data, source[secondKey].data)).toBe(0);
    expect(file.media[0].timestamp).toBe(0);
  });

  it("records only the streams recording.streams selects", async () => {
    const { rec } = recorder({ streams: ["live/cam-*", "studio/main"] });
    const selected = (app: string, name: string) => rec.output(new FedStream(app, name)) !== null;
    expect(selected("live", "cam-1")).toBe(true);
    expect(selected("live", "cam-")).toBe(true);
    expect(selected("studio", "main")).toBe(true);
    expect(selected("live", "cam")).toBe(false);
    expect(selected("studio", "main2")).toBe(false);
    expect(selected("other", "cam-1")).toBe(false);
    await rec.stop(performance.now() + 1_000);

    const disabled = new Recorder({ enabled: false, dir: scratch.path, segmentMs: 0, streams: [], format: "flv" }, capturedLog().log, new EventChannel());
    expect(disabled.output(new FedStream("live", "x"))).toBeNull();
  });

  it("keeps files inside recording.dir whatever the stream is called", async () => {
    const parent = join(scratch.path, "hostile");
    const { rec, dir } = recorder({ dir: join(parent, "inner") });
    const names: Array<[string, string]> = [
      ["..", "../../etc/cron.d/x"],
      ["live", "a\u0000b"],
      ["live", "/abs/path"],
      ["live", "y".repeat(3000)],
    ];
    const short = source.slice(0, 40);
    for (const [app, name] of names) {
      const stream = new FedStream(app, name);
      const output = rec.output(stream)!;
      for (const tag of short) stream.deliver(output, tag);
      output.end();
    }
    await rec.stop(performance.now() + 10_000);
    const created = readdirSync(dir);
    expect(created).toHaveLength(names.length);
    for (const name of created) expect(name).toMatch(/^[A-Za-z0-9._-]{1,240}\.flv$/);
    expect(readdirSync(parent)).toEqual(["inner"]);
  });

  it("names the file being written for the API, once it exists, and forgets it when the publication ends", async () => {
    const { rec } = recorder();
    const stream = new FedStream("live", "api");
    const output = rec.output(stream)!;
    expect(rec.recording("live/api")).toBeNull();
    for (const tag of source.slice(0, 60)) stream.deliver(output, tag);
    await waitFor(() => rec.recording("live/api") !== null, 5_000, "the file to be created");
    expect(rec.recording("live/api")).toMatch(/^live_api_\d{8}_\d{6}\.flv$/);
    expect(rec.stats().active).toBe(1);
    output.end();
    expect(rec.recording("live/api")).toBeNull();
    await rec.stop(performance.now() + 10_000);
  });

  it("finalizes every open file on stop(), and records nothing new after it", async () => {
    const { rec, dir, events } = recorder();
    const stream = new FedStream("live", "stopped");
    const output = rec.output(stream)!;
    for (const tag of source.slice(0, 200)) stream.deliver(output, tag);
    await rec.stop(performance.now() + 10_000);
    const file = await readRecording(recordingsIn(dir)[0]);
    expect(file.meta.filesize).toBe(file.bytes.length);
    expect(file.meta.duration).toBeGreaterThan(2);
    expect(events.map((e) => e.type)).toEqual(["record_start", "record_stop"]);
    // The stream still delivers to its output; a stopped recorder ignores that and makes no new outputs.
    for (const tag of source.slice(200, 260)) stream.deliver(output, tag);
    expect(rec.output(new FedStream("live", "late"))).toBeNull();
    expect(recordingsIn(dir)).toHaveLength(1);
  });

  it("fails a recording whose file cannot be created: logged once, record_stop with the error, the stream unharmed", async () => {
    const blocker = join(scratch.path, "not-a-dir");
    writeFileSync(blocker, "");
    const { rec, logs, events } = recorder({ dir: join(blocker, "recordings") });
    const stream = new FedStream("live", "broken");
    const output = rec.output(stream)!;
    for (const tag of source.slice(0, 100)) stream.deliver(output, tag);
    await waitFor(() => events.length > 0, 5_000, "the record_stop event");
    // Frames keep coming: they are ignored, without a throw and without a second report.
    for (const tag of source.slice(100, 300)) stream.deliver(output, tag);
    output.end();
    await rec.stop(performance.now() + 5_000);

    expect(events.map((e) => e.type)).toEqual(["record_stop"]);
    expect(events[0].data).toMatchObject({ size: 0, error: expect.stringMatching(/ENOTDIR|EEXIST/) });
    const failures = logs.records().filter((r) => r.level === "error");
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ msg: "recording failed", stream_key: "live/broken" });
    expect(String(failures[0].path)).toContain(blocker);
    expect(rec.stats()).toMatchObject({ active: 0, files: 0, errors: 1 });
  });

  it("drops media while the disk falls behind, then resumes at a keyframe: the file stays clean", async () => {
    // A small backlog limit (the reserved metadata alone is 37 KB) that the first 3 s (100 KB) pass.
    const { rec, dir, logs } = recorder({}, { batchBytes: 4096, maxPendingBytes: 64 * 1024 });
    await recordFallingBehind(rec, "slow", source);

    const path = recordingsIn(dir)[0];
    const behind = logs.records().filter((r) => r.msg === "recording falls behind the disk: dropping media until it catches up");
    expect(behind).toHaveLength(1);
    expect(behind[0]).toMatchObject({ level: "warn", path });
    const file = await readRecording(path);
    const [finished] = logs.records().filter((r) => r.msg === "recording finished");
    expect(Number(finished.dropped)).toBe(sourceMedia.length - file.media.length);
    expect(file.media.length).toBeLessThan(sourceMedia.length);
    // Video resumes at a keyframe: the file decodes without a single error.
    expect(await decodeErrors(path)).toBe("");
    expect((await probe(path)).duration).toBeCloseTo(8, 0);
  });
});

describe("the recorder's bounds", () => {
  it("reserves index room for a segment at two keyframes a second, capped at MAX_INDEX_ENTRIES", () => {
    expect(indexCapacity(0)).toBe(MAX_INDEX_ENTRIES);
    expect(indexCapacity(60_000)).toBe(152);
    expect(indexCapacity(24 * 3600_000)).toBe(MAX_INDEX_ENTRIES);
  });

  it("creates no directory until there is something to record", async () => {
    const dir = join(scratch.path, "never");
    const rec = new Recorder({ enabled: true, dir, segmentMs: 0, streams: [], format: "flv" }, capturedLog().log, new EventChannel());
    const stream = new FedStream("live", "idle");
    rec.output(stream)!.end();
    await rec.stop(performance.now() + 1_000);
    expect(existsSync(dir)).toBe(false);
  });
});
