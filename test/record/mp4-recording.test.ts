/**
 * The Recorder with recording.format mp4, fed the way a live stream feeds it from the tags of real FFmpeg-made
 * FLVs: fragmented MP4 files that FFmpeg and mediabunny read, seek in without reading every fragment, and that
 * hold every sample once; segments, audio-only and video-only streams, a codec change, and streams whose codecs
 * MP4 does not carry.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout } from "bun:test";
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from "mediabunny";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sampleOf } from "../../src/media/fmp4/track.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { run } from "../../support/children.ts";
import { flvTags, mediaTags } from "../../support/fed-stream.ts";
import type { FlvTag } from "../../support/flv-tags.ts";
import { SMALL_SOURCE, testSource } from "../../support/test-source.ts";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { type EnhancedCodec, enhancedVideoStream } from "../helpers/enhanced-stream.ts";
import { enhancedOpusStream } from "../helpers/opus-stream.ts";
import { decodeErrors, probe, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { type Mp4Recording, boxesFfmpegOpens, mediabunnyKeyPacket, readMp4File } from "./mp4-reading.ts";
import { expectWholeTestSource, frameAfterSeek, record, recordFallingBehind, recorders } from "./recording-file.ts";

// Each test runs ffprobe and ffmpeg a few times: slow on a busy machine, never stuck.
setDefaultTimeout(30_000);
const scratch = scratchDir("mp4-recorder");
afterAll(() => scratch.remove());
/** The tests overlap their FFmpeg runs; each records into a directory of its own. */
const tests = testsAtOnce(() => new Scope());

/** A Recorder writing MP4 to a fresh directory, with its log and events captured. */
const recorder = recorders(scratch.path, "mp4");

/** The coded samples of a track's media tags (not the end-of-sequence message FFmpeg closes video with). */
function samplesOf(tags: readonly FlvTag[], type: number): Buffer[] {
  return mediaTags(tags).flatMap((t) => {
    const sample = t.type === type ? sampleOf(t.type, t.data) : null;
    return sample === null ? [] : [Buffer.from(sample.data)];
  });
}

function recordedSamples(file: Mp4Recording, trackId: number): Buffer[] {
  return file.fragments.flatMap((f) => f.runs.filter((r) => r.trackId === trackId).flatMap((r) => r.samples.map((s) => Buffer.from(s.data))));
}

/** An FLV of the test source's video with MP3 audio (or MP3 alone): a codec MP4 recording does not carry. */
async function mp3Source(withVideo: boolean): Promise<string> {
  const path = join(scratch.path, withVideo ? "h264-mp3.flv" : "mp3.flv");
  if (existsSync(path)) return path;
  const video = withVideo ? ["-map", "0:v", "-c:v", "copy"] : [];
  const result = await run([
    "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", await testSource(),
    ...video, "-map", "0:a", "-c:a", "libmp3lame", "-ar", "44100", "-f", "flv", path,
  ]);
  if (result.code !== 0) throw new Error(result.stderr);
  return path;
}

describe.skipIf(!requireFfmpeg())("MP4 recording, fed a real H.264+AAC stream", () => {
  let source: FlvTag[];

  beforeAll(async () => {
    source = await flvTags(await testSource());
  });

  tests.it("writes ftyp, moov, a sidx per track, fragments of one GOP each, then an mfra, and every sample once", async () => {
    const { rec, files, events } = recorder();
    await record(rec, source);
    expect(files()).toHaveLength(1);
    const [path] = files();
    expect(path).toMatch(/\/live_feed_\d{8}_\d{6}\.mp4$/);
    const file = readMp4File(path);

    const types = file.top.map((b) => b.type);
    expect(types.slice(0, 5)).toEqual(["ftyp", "moov", "sidx", "sidx", "free"]);
    expect(types.at(-1)).toBe("mfra");
    expect(types.slice(5, -1).join(",")).toBe(file.fragments.map(() => "moof,mdat").join(","));
    expect(file.tracks.map((t) => [t.id, t.codec, t.width, t.height, t.sampleRate])).toEqual([
      [1, "avc1", 320, 240, 0],
      [2, "mp4a", 0, 0, 44100],
    ]);

    // One fragment per GOP (a keyframe a second), numbered from 1, each opening with its keyframe.
    expect(file.fragments).toHaveLength(8);
    expect(file.fragments.map((f) => f.sequenceNumber)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const f of file.fragments) expect(f.runs[0].samples[0].sync).toBe(true);
    expect(recordedSamples(file, 1)).toEqual(samplesOf(source, MessageType.Video));
    expect(recordedSamples(file, 2)).toEqual(samplesOf(source, MessageType.Audio));

    // Each sidx covers every byte from the first moof to the mfra, one reference per fragment, from a keyframe.
    const mfra = file.top.at(-1)!;
    for (const [i, sidx] of file.sidx.entries()) {
      expect(sidx.referenceId).toBe(i + 1);
      expect(sidx.timescale).toBe(file.tracks[i].timescale);
      expect(sidx.start).toBe(file.fragments[0].offset);
      expect(sidx.references.map((r) => r.size)).toEqual(
        file.fragments.map((f, k) => (file.fragments[k + 1]?.offset ?? mfra.offset) - f.offset),
      );
      expect(sidx.references.every((r) => r.startsWithSap)).toBe(true);
      const seconds = (sidx.earliestPresentationTime + sidx.references.reduce((n, r) => n + r.duration, 0)) / sidx.timescale;
      expect(seconds).toBeCloseTo(8, 1);
    }
    // The mfra names each fragment's first sample of each track, and the mfro its size, as the file's last bytes.
    expect(file.mfroSize).toBe(mfra.bytes.length);
    for (const trackId of [1, 2]) {
      expect(file.tfra.get(trackId)).toEqual(
        file.fragments.map((f) => {
          const traf = f.runs.findIndex((r) => r.trackId === trackId);
          const run = f.runs[traf];
          return { time: run.baseDecodeTime + run.samples[0].compositionOffset, moofOffset: f.offset, traf: traf + 1, trun: 1, sample: 1 };
        }),
      );
    }

    expect(events.map((e) => [e.type, e.data.path])).toEqual([
      ["record_start", path],
      ["record_stop", path],
    ]);
    expect(events[1].data).toMatchObject({ size: file.bytes.length });
    expect(rec.stats()).toEqual({ active: 0, bytes: file.bytes.length, files: 1, errors: 0 });
  });

  tests.it("makes a file FFmpeg opens reading one fragment, decodes cleanly, and seeks by its sidx", async () => {
    const { rec, files } = recorder();
    await record(rec, source);
    const [path] = files();
    await expectWholeTestSource(path);

    // With the sidx, FFmpeg stops after the first fragment instead of reading every moof of the file.
    expect((await boxesFfmpegOpens(path)).filter((t) => t === "moof")).toHaveLength(1);
    // A seek anywhere lands on the keyframe before it, and decodes without complaint.
    for (const seconds of [1.5, 4.5, 7.5]) {
      const seek = await frameAfterSeek(path, seconds);
      expect(seek.errors).toBe("");
      expect(seek.frame.key_frame).toBe(1);
      expect(Number(seek.frame.pts_time)).toBeGreaterThan(seconds - 1);
      expect(Number(seek.frame.pts_time)).toBeLessThanOrEqual(seconds);
    }
    const decoded = await run(["ffmpeg", "-v", "error", "-ss", "4.5", "-i", path, "-frames:v", "1", "-f", "null", "-"]);
    expect(decoded.stderr).toBe("");
    expect(decoded.code).toBe(0);
  });

  tests.it("reads back in mediabunny, which finds a key packet through the mfra without reading the fragments before it", async () => {
    const { rec, files } = recorder();
    await record(rec, source);
    const [path] = files();
    const file = readMp4File(path);

    const input = new Input({ source: new BufferSource(file.bytes), formats: ALL_FORMATS });
    const video = (await input.getPrimaryVideoTrack())!;
    const audio = (await input.getPrimaryAudioTrack())!;
    expect([video.codec, video.displayWidth, video.displayHeight, audio.codec, audio.sampleRate]).toEqual(["avc", 320, 240, "aac", 44100]);
    const packets = [];
    for await (const packet of new EncodedPacketSink(video).packets()) packets.push(packet);
    expect(packets.map((p) => Buffer.from(p.data) as Buffer)).toEqual(samplesOf(source, MessageType.Video));
    expect(packets.filter((p) => p.type === "key")).toHaveLength(8);
    expect(await input.computeDuration()).toBeCloseTo(8, 1);

    const found = await mediabunnyKeyPacket(path, 6.5);
    const keyframes = file.fragments.map((f) => (f.runs[0].baseDecodeTime + f.runs[0].samples[0].compositionOffset) / 90_000);
    expect(found.timestamp).toBeCloseTo(keyframes[6], 3);
    // None of the moofs from the second to the sixth fragment was read to get there.
    const skipped = file.fragments.slice(1, 6).map((f) => f.offset);
    expect(found.reads.filter(([start, end]) => skipped.some((at) => at >= start && at < end))).toEqual([]);
  });

  tests.it("keeps B-frames' composition offsets: presentation times are the FLV's timestamps plus its CTS", async () => {
    const bframes = await flvTags(await testSource({ bframes: true }));
    const { rec, files } = recorder();
    await record(rec, bframes, "bframes");
    const [path] = files();
    const input = new Input({ source: new BufferSource(readMp4File(path).bytes), formats: ALL_FORMATS });
    const packets = [];
    for await (const packet of new EncodedPacketSink((await input.getPrimaryVideoTrack())!).packets()) packets.push(packet);
    const media = mediaTags(bframes);
    const video = media.filter((t) => t.type === MessageType.Video && sampleOf(t.type, t.data) !== null);
    const start = media[0].timestamp;
    expect(packets.map((p) => Math.round(p.timestamp * 1000))).toEqual(
      video.map((t) => t.timestamp - start + sampleOf(t.type, t.data)!.compositionOffsetMs),
    );
    expect(video.some((t) => sampleOf(t.type, t.data)!.compositionOffsetMs > 0)).toBe(true);
    expect(await decodeErrors(path)).toBe("");
  });

  tests.it("cuts segments at the first keyframe past recording.segment: each a complete MP4, no sample lost or repeated", async () => {
    const { rec, files, events } = recorder({ segmentMs: 2_000 });
    await record(rec, source, "seg");
    const paths = files();
    expect(paths).toHaveLength(4);
    for (const path of paths) expect(path).toMatch(/\/live_seg_\d{8}_\d{6}(_\d+)?\.mp4$/);
    const recorded = paths.map(readMp4File);
    expect(recorded.flatMap((f) => recordedSamples(f, 1))).toEqual(samplesOf(source, MessageType.Video));
    expect(recorded.flatMap((f) => recordedSamples(f, 2))).toEqual(samplesOf(source, MessageType.Audio));
    for (const [i, file] of recorded.entries()) {
      // Each opens like a file of its own: both tracks, time from 0, a keyframe first.
      expect(file.tracks.map((t) => t.codec)).toEqual(["avc1", "mp4a"]);
      expect(file.fragments[0].runs[0].samples[0].sync).toBe(true);
      expect(Math.min(...file.fragments[0].runs.map((r) => r.baseDecodeTime))).toBe(0);
      const probed = await probe(paths[i]);
      expect(probed.duration).toBeGreaterThan(1.9);
      expect(probed.duration).toBeLessThan(2.1);
      expect(await decodeErrors(paths[i])).toBe("");
    }
    expect(events.filter((e) => e.type === "record_stop").map((e) => e.data.path)).toEqual(paths);
  });

  tests.it("records an audio-only stream with one audio track, and a video-only stream with one video track", async () => {
    const audioOnly = recorder();
    await record(audioOnly.rec, source.filter((t) => t.type !== MessageType.Video), "audio");
    const [audioPath] = audioOnly.files();
    const audio = readMp4File(audioPath);
    expect(audio.tracks.map((t) => [t.id, t.kind])).toEqual([[1, "audio"]]);
    expect(audio.sidx.map((s) => s.referenceId)).toEqual([1]);
    const probedAudio = await probe(audioPath);
    expect(probedAudio.streams.map((s) => s.codecType)).toEqual(["audio"]);
    expect(probedAudio.duration).toBeCloseTo(8, 1);
    expect(await decodeErrors(audioPath)).toBe("");

    const videoOnly = recorder();
    await record(videoOnly.rec, source.filter((t) => t.type !== MessageType.Audio), "video");
    const [videoPath] = videoOnly.files();
    expect(readMp4File(videoPath).tracks.map((t) => [t.id, t.kind])).toEqual([[1, "video"]]);
    expect((await probe(videoPath)).streams.map((s) => s.codecType)).toEqual(["video"]);
    expect(await decodeErrors(videoPath)).toBe("");
  });

  tests.it("starts a new file at the first keyframe after a sequence header changes the video", async () => {
    const small = await flvTags(await testSource({ ...SMALL_SOURCE, seconds: 3 }));
    const end = Math.max(...mediaTags(source).map((t) => t.timestamp));
    // The publisher switches resolution: new sequence headers, then the new encoder's frames, on the same clock.
    const switched = [...source, ...small.filter((t) => t.type !== MessageType.DataAmf0).map((t) => ({ ...t, timestamp: t.timestamp + end + 40 }))];
    const { rec, files, logs } = recorder();
    await record(rec, switched, "switch");
    const paths = files();
    expect(paths).toHaveLength(2);
    const [before, after] = paths.map(readMp4File);
    expect(before.tracks[0]).toMatchObject({ width: 320, height: 240 });
    expect(after.tracks[0]).toMatchObject({ width: 160, height: 120 });
    expect(recordedSamples(after, 1)).toEqual(samplesOf(small, MessageType.Video));
    for (const path of paths) expect(await decodeErrors(path)).toBe("");
    expect((await probe(paths[1])).video).toMatchObject({ width: 160, height: 120 });
    expect(logs.records().filter((r) => r.level !== "info")).toEqual([]);
  });

  tests.it("records the video of an H.264+MP3 stream and says once that its audio is left out", async () => {
    const { rec, files, logs } = recorder();
    await record(rec, await flvTags(await mp3Source(true)), "mp3");
    const [path] = files();
    expect(readMp4File(path).tracks.map((t) => t.kind)).toEqual(["video"]);
    expect((await probe(path)).streams.map((s) => s.codecType)).toEqual(["video"]);
    const warnings = logs.records().filter((r) => r.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ stream_key: "live/mp3", path });
    expect(String(warnings[0].msg)).toContain("leaves out the stream's audio");
  });

  tests.it("makes no file of a stream MP4 carries none of the codecs of, and says so once", async () => {
    const { rec, dir, logs, events } = recorder();
    await record(rec, await flvTags(await mp3Source(false)), "mp3only");
    expect(existsSync(dir)).toBe(false);
    expect(events).toEqual([]);
    const warnings = logs.records().filter((r) => r.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: "stream not recorded: no file can start", stream_key: "live/mp3only" });
    expect(String(warnings[0].reason)).toContain("MP4 carries none of the stream's codecs");
  });

  tests.it("drops media while the disk falls behind, then resumes at a keyframe: the file stays clean", async () => {
    // A small backlog limit (the reserved index room alone is 49 KB) that the first 3 s pass.
    const { rec, files, logs } = recorder({}, { batchBytes: 4096, maxPendingBytes: 64 * 1024 });
    await recordFallingBehind(rec, "slow", source);

    const [path] = files();
    const behind = logs.records().filter((r) => r.msg === "recording falls behind the disk: dropping media until it catches up");
    expect(behind).toHaveLength(1);
    const [finished] = logs.records().filter((r) => r.msg === "recording finished");
    const recorded = recordedSamples(readMp4File(path), 1).length + recordedSamples(readMp4File(path), 2).length;
    const published = samplesOf(source, MessageType.Video).length + samplesOf(source, MessageType.Audio).length;
    expect(Number(finished.dropped)).toBeGreaterThan(0);
    expect(recorded).toBeLessThan(published);
    expect(await decodeErrors(path)).toBe("");
    expect((await probe(path)).duration).toBeCloseTo(8, 0);
  });

  tests.it("fails a recording whose file cannot be created, as FLV recording does: logged once, record_stop with the error", async () => {
    const blocker = join(scratch.path, "not-a-dir");
    writeFileSync(blocker, "");
    const { rec, logs, events } = recorder({ dir: join(blocker, "recordings") });
    await record(rec, source.slice(0, 300), "broken");
    expect(events.map((e) => e.type)).toEqual(["record_stop"]);
    expect(events[0].data).toMatchObject({ size: 0, error: expect.stringMatching(/ENOTDIR|EEXIST/) });
    expect(String(events[0].data.path)).toMatch(/live_broken_\d{8}_\d{6}\.mp4$/);
    const failures = logs.records().filter((r) => r.level === "error");
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ msg: "recording failed", stream_key: "live/broken" });
    expect(rec.stats()).toMatchObject({ active: 0, files: 0, errors: 1 });
  });
});

describe.skipIf(!requireFfmpeg())("MP4 recording of Enhanced RTMP streams", () => {
  const FFMPEG_CODEC: Record<EnhancedCodec, string> = { hvc1: "hevc", av01: "av1", vp09: "vp9" };

  for (const codec of ["hvc1", "av01", "vp09"] as const) {
    tests.it(`records ${codec} video FFmpeg decodes, at its size`, async () => {
      const stream = await enhancedVideoStream(codec);
      const tags = stream.messages.map((m) => ({ type: MessageType.Video, timestamp: m.timestamp, data: m.payload }));
      const { rec, files } = recorder();
      await record(rec, tags, codec);
      const [path] = files();
      expect(readMp4File(path).tracks.map((t) => [t.codec, t.width, t.height])).toEqual([[codec, stream.width, stream.height]]);
      expect((await probe(path)).video).toMatchObject({ codecName: FFMPEG_CODEC[codec], width: stream.width, height: stream.height });
      expect(await decodeErrors(path)).toBe("");
    });
  }

  tests.it("records Opus audio FFmpeg decodes", async () => {
    const messages = await enhancedOpusStream(3);
    const { rec, files } = recorder();
    await record(rec, messages.map((m) => ({ type: m.type, timestamp: m.timestamp, data: m.payload })), "opus");
    const [path] = files();
    expect(readMp4File(path).tracks.map((t) => [t.codec, t.sampleRate])).toEqual([["Opus", 48_000]]);
    const probed = await probe(path);
    expect(probed.audio).toMatchObject({ codecName: "opus" });
    expect(probed.duration).toBeCloseTo(3, 0);
    expect(await decodeErrors(path)).toBe("");
  });
});
