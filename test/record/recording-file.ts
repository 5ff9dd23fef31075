/**
 * Reading back what the recorder wrote: the FLV structure (header flags, the onMetaData tag and its keyframe
 * index, media tags), the index as libavformat itself reads it, a seek with ffprobe, and the whole tags of a
 * file cut short by a crash. And feeding it a stream its disk cannot keep up with.
 */
import { expect } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { EcmaArray, decodeAmf0 } from "../../src/protocol/amf0.ts";
import type { Amf0Object } from "../../src/protocol/amf0.ts";
import { type FlvTag, readFlvTags } from "../../support/flv-tags.ts";
import { type Probe, decodeErrors, firstVideoPacket, probe } from "../helpers/media.ts";
import { run } from "../../support/children.ts";
import { FedStream, mediaTags } from "../../support/fed-stream.ts";
import { Recorder, type RecordingSettings } from "../../src/record/recorder.ts";
import type { WriterLimits } from "../../src/record/batch-writer.ts";
import { EventChannel, type ServerEvent } from "../../src/events/events.ts";
import { capturedLog } from "../helpers/log-capture.ts";

export interface Recording {
  bytes: Uint8Array;
  /** The header's flags byte: 4 audio, 1 video. */
  flags: number;
  tags: FlvTag[];
  /** The first tag's onMetaData properties. */
  meta: Amf0Object;
  /** Audio and video tags other than sequence headers. */
  media: FlvTag[];
  /** File offset of each tag's header. */
  offsets: number[];
}

export async function readRecording(path: string): Promise<Recording> {
  const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
  const tags = readFlvTags(bytes);
  const [name, value] = decodeAmf0(tags[0].data);
  if (tags[0].type !== 18 || name !== "onMetaData" || !(value instanceof EcmaArray)) {
    throw new Error(`${path} does not start with an onMetaData tag`);
  }
  const offsets: number[] = [];
  for (let at = 13, i = 0; i < tags.length; i++) {
    offsets.push(at);
    at += 11 + tags[i].data.length + 4;
  }
  return { bytes, flags: bytes[4], tags, meta: value.props, media: mediaTags(tags), offsets };
}

/**
 * Feeds every tag (its timestamp plus `shift`) to a new recording of live/`name`, ends it, and waits until its
 * files are finalized.
 */
export async function record(rec: Recorder, tags: readonly FlvTag[], name = "feed", shift = 0): Promise<void> {
  const stream = new FedStream("live", name);
  const output = rec.output(stream);
  if (output === null) throw new Error(`live/${name} is not recorded`);
  for (const tag of tags) stream.deliver(output, tag, shift);
  output.end();
  await rec.stop(performance.now() + 10_000);
}

/**
 * Records live/`name` from `tags` as a stream whose disk falls behind: the first 3 s in one go (no write can
 * complete in between), then about real time (the disk catches up between frames); then ends it and waits
 * until its files are finalized.
 */
export async function recordFallingBehind(rec: Recorder, name: string, tags: readonly FlvTag[]): Promise<void> {
  const stream = new FedStream("live", name);
  const output = rec.output(stream)!;
  const burst = tags.findIndex((t) => t.timestamp > 3_000);
  for (const tag of tags.slice(0, burst)) stream.deliver(output, tag);
  for (const tag of tags.slice(burst)) {
    stream.deliver(output, tag);
    await Bun.sleep(1);
  }
  output.end();
  await rec.stop(performance.now() + 10_000);
}

/** The .flv (or `extension`) files in `dir` (none if it does not exist), in the order they were made: by time, then suffix. */
export function recordingsIn(dir: string, extension = "flv"): string[] {
  if (!existsSync(dir)) return [];
  const byNumber = (name: string) => {
    const m = /^(.*_\d{8}_\d{6})(?:_(\d+))?\.\w+$/.exec(name)!;
    return [m[1], Number(m[2] ?? 0)] as const;
  };
  return readdirSync(dir)
    .filter((name) => name.endsWith(`.${extension}`))
    .sort((a, b) => {
      const [sa, na] = byNumber(a);
      const [sb, nb] = byNumber(b);
      return sa < sb ? -1 : sa > sb ? 1 : na - nb;
    })
    .map((name) => join(dir, name));
}

/** Checks that a recording of the whole default test source plays it all: 8 s of H.264 320x240 and AAC, cleanly, from a keyframe. */
export async function expectWholeTestSource(path: string): Promise<void> {
  const probed = await probe(path);
  expect(probed.duration).toBeCloseTo(8, 1);
  expect(probed.video).toMatchObject({ codecName: "h264", width: 320, height: 240, packets: 200 });
  expect(probed.audio).toMatchObject({ codecName: "aac" });
  expect(await decodeErrors(path)).toBe("");
  expect(await firstVideoPacket(path)).toMatchObject({ keyframe: true });
}

/** What ffprobe and ffmpeg make of a file, asked at once: streams and duration, decode errors, first packet. */
export async function playability(path: string): Promise<{ probed: Probe; errors: string; startsWithKeyframe: boolean }> {
  const [probed, errors, first] = await Promise.all([probe(path), decodeErrors(path), firstVideoPacket(path)]);
  return { probed, errors, startsWithKeyframe: first?.keyframe === true };
}

/** The keyframe index as libavformat read it: its trace lines "keyframe filepositions = P times = T". */
export async function indexAsRead(path: string): Promise<Array<{ position: number; ms: number }>> {
  const result = await run(["ffprobe", "-v", "trace", "-show_format", path]);
  return [...result.stderr.matchAll(/keyframe filepositions = (\d+) times = (\d+)/g)].map((m) => ({
    position: Number(m[1]),
    ms: Number(m[2]),
  }));
}

/** The first video frame ffprobe decodes after seeking to `seconds`, and what it complained about. */
export async function frameAfterSeek(path: string, seconds: number) {
  const result = await run([
    "ffprobe", "-v", "error", "-read_intervals", `${seconds}%+#1`, "-select_streams", "v",
    "-show_frames", "-show_entries", "frame=pts_time,key_frame", "-of", "json", path,
  ]);
  const frames = (JSON.parse(result.stdout || "{}").frames ?? []) as Array<{ pts_time: string; key_frame: number }>;
  return { frame: frames[0], errors: result.stderr.trim(), code: result.code };
}

/** Length of the whole tags at the start of an FLV file that may end in a torn tag (a crash mid-write). */
export function wholeTagsLength(bytes: Uint8Array): number {
  if (bytes.length < 13) return 0;
  let at = 13;
  for (;;) {
    if (at + 11 > bytes.length) return at;
    const size = (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
    if (at + 11 + size + 4 > bytes.length) return at;
    at += 11 + size + 4;
  }
}

/** Recorders writing `format`, each to a fresh directory under `root`, with their logs and events captured. */
export function recorders(root: string, format: RecordingSettings["format"]) {
  let dirs = 0;
  return (settings: Partial<RecordingSettings> = {}, limits?: Partial<WriterLimits>) => {
    const dir = settings.dir ?? join(root, `r${++dirs}`);
    const { log, logs } = capturedLog("info");
    const events = new EventChannel(log);
    const seen: ServerEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const rec = new Recorder({ enabled: true, segmentMs: 0, streams: [], format, ...settings, dir }, log, events, limits);
    return { rec, dir, logs, events: seen, files: () => recordingsIn(dir, format) };
  };
}
