/**
 * Real FFmpeg for the interop tests: publisher and player processes (children a test always kills), ffprobe
 * queries, and scratch files. Nothing here knows about the server; the sources they publish are in
 * support/test-source.ts.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "bun:test";
import { type Child, type Children, run } from "../../support/children.ts";

// ---------------------------------------------------------------------------------------------------------
// Availability

let availability: boolean | undefined;

/**
 * Whether ffmpeg and ffprobe are on PATH. Missing tools fail the run loudly under CI=true (a CI that
 * silently skips its acceptance tests proves nothing); elsewhere the tests are skipped with a note.
 * Use as `describe.skipIf(!requireFfmpeg())(...)`.
 */
export function requireFfmpeg(): boolean {
  if (availability !== undefined) return availability;
  const missing = ["ffmpeg", "ffprobe"].filter((tool) => Bun.which(tool) === null);
  if (missing.length > 0 && process.env.CI === "true") {
    throw new Error(`interop tests need ${missing.join(" and ")} on PATH, and CI=true forbids skipping them`);
  }
  if (missing.length > 0) {
    console.warn(`NOTE: ${missing.join(" and ")} not found on PATH: skipping the real-FFmpeg interop tests`);
  }
  availability = missing.length === 0;
  return availability;
}

// ---------------------------------------------------------------------------------------------------------
// FFmpeg publisher and player

export interface PublishOptions {
  /** Publish only the first `seconds` of the file (an input -t). */
  seconds?: number;
  /** connect's tcUrl instead of the one FFmpeg derives from the URL (-rtmp_tcurl), e.g. with a ?token= query. */
  tcUrl?: string;
}

/** `ffmpeg -re -i FILE -c copy -f flv URL`: publishes at real-time rate, exits 0 once the file is sent. */
export function publish(children: Children, file: string, url: string, options: PublishOptions = {}): Child {
  const limit = options.seconds === undefined ? [] : ["-t", String(options.seconds)];
  const tcUrl = options.tcUrl === undefined ? [] : ["-rtmp_tcurl", options.tcUrl];
  return children.spawn(`publisher ${url}`, [
    "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
    "-re", ...limit, "-i", file,
    "-c", "copy", ...tcUrl, "-f", "flv", url,
  ]);
}

export interface PlayOptions {
  /**
   * Keep video frames that precede the first keyframe. FFmpeg drops them by default when stream-copying,
   * which would hide a server that starts a late joiner mid-GOP.
   */
  keepInitialNonKeyframes?: boolean;
}

/**
 * `ffmpeg -i URL -c copy -f flv OUT`, flushing every packet so that the file grows as media arrives; with
 * `out` null, `-f null -` (only receiving and demuxing matter). Exits when the server ends the stream.
 */
export function play(children: Children, url: string, out: string | null, options: PlayOptions = {}): Child {
  const keep = options.keepInitialNonKeyframes === true ? ["-copyinkf"] : [];
  const output = out === null ? ["-f", "null", "-"] : ["-flush_packets", "1", "-f", "flv", "-y", out];
  return children.spawn(`player ${url}`, [
    "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
    "-i", url,
    "-c", "copy", ...keep, ...output,
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// ffprobe

export interface ProbedStream {
  codecType: string;
  codecName: string;
  width?: number;
  height?: number;
  packets: number;
}

export interface Probe {
  streams: ProbedStream[];
  video?: ProbedStream;
  audio?: ProbedStream;
  /** Seconds, from the container (0 when unknown). */
  duration: number;
}

/** ffprobe's JSON output (-of json) for `args` on `file`; throws with its stderr if it fails. */
export async function ffprobeJson(args: string[], file: string): Promise<Record<string, unknown>> {
  const result = await run(["ffprobe", "-v", "error", ...args, "-of", "json", file]);
  if (result.code !== 0) throw new Error(`ffprobe ${args.join(" ")} ${file} failed (exit ${result.code}):\n${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** Streams (type, codec, size, packet count) and duration of a media file. */
export async function probe(file: string): Promise<Probe> {
  const json = await ffprobeJson(
    ["-count_packets", "-show_entries", "stream=codec_type,codec_name,width,height,nb_read_packets:format=duration"],
    file,
  );
  const raw = (json.streams ?? []) as Array<Record<string, unknown>>;
  const streams = raw.map(
    (s): ProbedStream => ({
      codecType: String(s.codec_type),
      codecName: String(s.codec_name),
      width: typeof s.width === "number" ? s.width : undefined,
      height: typeof s.height === "number" ? s.height : undefined,
      packets: Number(s.nb_read_packets ?? 0),
    }),
  );
  const format = (json.format ?? {}) as Record<string, unknown>;
  return {
    streams,
    video: streams.find((s) => s.codecType === "video"),
    audio: streams.find((s) => s.codecType === "audio"),
    duration: Number(format.duration ?? 0),
  };
}

/** Probes a copy of the default test source and checks that its H.264 320x240 video and AAC audio came through. */
export async function probeTestSourceCopy(file: string): Promise<Probe> {
  const copy = await probe(file);
  expect(copy.video, JSON.stringify(copy)).toMatchObject({ codecName: "h264", width: 320, height: 240 });
  expect(copy.audio, JSON.stringify(copy)).toMatchObject({ codecName: "aac" });
  return copy;
}

/** The container's view of the first video packet: keyframe flag (FLV frame type) and time. */
export async function firstVideoPacket(file: string): Promise<{ keyframe: boolean; ptsTime: number } | null> {
  const json = await ffprobeJson(
    ["-select_streams", "v", "-read_intervals", "%+#1", "-show_entries", "packet=flags,pts_time"],
    file,
  );
  const packet = ((json.packets ?? []) as Array<Record<string, unknown>>)[0];
  if (packet === undefined) return null;
  return { keyframe: String(packet.flags).includes("K"), ptsTime: Number(packet.pts_time) };
}

/** The decoder's view of the first video frame. */
export async function firstVideoFrame(file: string): Promise<{ keyFrame: boolean; pictType: string } | null> {
  const json = await ffprobeJson(
    ["-select_streams", "v", "-read_intervals", "%+#1", "-show_frames", "-show_entries", "frame=key_frame,pict_type"],
    file,
  );
  const frame = ((json.frames ?? []) as Array<Record<string, unknown>>)[0];
  if (frame === undefined) return null;
  return { keyFrame: frame.key_frame === 1, pictType: String(frame.pict_type) };
}

/** Every distinct "WxH" among the decoded video frames (one entry for a clean single-source stream). */
export async function videoFrameSizes(file: string): Promise<string[]> {
  const json = await ffprobeJson(["-select_streams", "v", "-show_frames", "-show_entries", "frame=width,height"], file);
  const frames = (json.frames ?? []) as Array<Record<string, unknown>>;
  return [...new Set(frames.map((f) => `${f.width}x${f.height}`))];
}

/** Decodes the whole file; returns what the decoders reported at level error ("" when clean). */
export async function decodeErrors(file: string): Promise<string> {
  const result = await run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-i", file, "-f", "null", "-"]);
  return `${result.stderr.trim()}${result.code === 0 ? "" : `\n(ffmpeg exit ${result.code})`}`.trim();
}

// ---------------------------------------------------------------------------------------------------------
// Files and scratch directories

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** A fresh directory under the OS temp dir, and its removal. */
export function scratchDir(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `rtmp-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
