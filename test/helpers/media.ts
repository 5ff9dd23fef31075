/**
 * Real FFmpeg for the interop tests: generated H.264+AAC sources (made once, cached under the OS temp dir),
 * publisher and player processes that a test always kills, ffprobe queries, and the small waiting helpers
 * those tests share. Nothing here knows about the server.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { expect } from "bun:test";

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
// Generated sources

export interface SourceOptions {
  /** testsrc frame size. Default "320x240". */
  size?: string;
  /** Sine tone in Hz. Default 1000. */
  frequency?: number;
  /** Length in seconds. Default 8. */
  seconds?: number;
  /**
   * Constant video bitrate padded with filler NAL units (e.g. "16M"), for tests that need bytes to pile up
   * quickly; default: x264's own rate (about 30 KB/s for testsrc at 320x240).
   */
  cbr?: string;
  /** Encode with B-frames (decode order differs from presentation order, as most real encoders do). */
  bframes?: boolean;
}

/** A second source that differs from the default in every way a mix-up would show: size and tone. */
export const SMALL_SOURCE: SourceOptions = { size: "160x120", frequency: 440 };

const SOURCE_DIR = join(tmpdir(), "rtmp-server-test-media");
const sources = new Map<string, Promise<string>>();

/**
 * An FLV file of testsrc video (H.264, 25 fps, a keyframe every second) and a sine tone (AAC), generated on
 * first use and reused by later tests and later runs.
 */
export function testSource(options: SourceOptions = {}): Promise<string> {
  const size = options.size ?? "320x240";
  const frequency = options.frequency ?? 1000;
  const seconds = options.seconds ?? 8;
  const rate = options.cbr ?? "crf";
  const order = options.bframes === true ? "-bframes" : "";
  const name = `testsrc-${size}-${frequency}hz-${seconds}s-${rate}${order}-v1.flv`;
  let source = sources.get(name);
  if (source === undefined) {
    source = generateSource(join(SOURCE_DIR, name), size, frequency, seconds, options.cbr, options.bframes === true);
    sources.set(name, source);
  }
  return source;
}

async function generateSource(
  path: string,
  size: string,
  frequency: number,
  seconds: number,
  cbr: string | undefined,
  bframes: boolean,
): Promise<string> {
  if (existsSync(path)) return path;
  mkdirSync(SOURCE_DIR, { recursive: true });
  // Written under a private name and renamed: a run killed mid-way never leaves a truncated "cached" file.
  const partial = `${path}.${process.pid}.partial`;
  const rateArgs =
    cbr === undefined
      ? []
      : ["-b:v", cbr, "-minrate", cbr, "-maxrate", cbr, "-bufsize", "2M", "-x264-params", "nal-hrd=cbr"];
  const result = await run([
    "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
    "-f", "lavfi", "-i", `testsrc=size=${size}:rate=25`,
    "-f", "lavfi", "-i", `sine=frequency=${frequency}:sample_rate=44100`,
    "-t", String(seconds),
    "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p",
    ...(bframes ? ["-preset", "veryfast", "-bf", "2"] : ["-preset", "ultrafast", "-tune", "zerolatency"]),
    ...rateArgs,
    "-c:a", "aac", "-b:a", "64k",
    "-f", "flv", partial,
  ]);
  if (result.code !== 0) throw new Error(`generating ${path} failed (exit ${result.code}):\n${result.stderr}`);
  renameSync(partial, path);
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

export interface ChildOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
}

/** A spawned process whose stdout and stderr are drained continuously (a full pipe would stall it). */
export class Child {
  readonly startedAt = performance.now();
  /** performance.now() when it exited, null while it runs. */
  exitedAt: number | null = null;
  exitCode: number | null = null;
  readonly exited: Promise<number>;
  private out = "";
  private err = "";
  private readonly proc: Subprocess<"ignore", "pipe", "pipe">;

  constructor(
    readonly name: string,
    readonly cmd: string[],
    options: ChildOptions = {},
  ) {
    this.proc = Bun.spawn(cmd, {
      cwd: options.cwd,
      env: options.env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const drained = Promise.all([
      drain(this.proc.stdout, (text) => (this.out += text)),
      drain(this.proc.stderr, (text) => (this.err += text)),
    ]);
    this.exited = this.proc.exited.then(async (code) => {
      this.exitedAt = performance.now();
      this.exitCode = code;
      await drained;
      return code;
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** Milliseconds from spawn to exit (or to now, while running). */
  get elapsedMs(): number {
    return (this.exitedAt ?? performance.now()) - this.startedAt;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.running) this.proc.kill(signal);
  }

  /** The exit code, or an error naming the process (with its stderr) if it has not exited in time. */
  async waitExit(timeoutMs: number): Promise<number> {
    const code = await Promise.race([this.exited, sleep(timeoutMs).then(() => null)]);
    if (code === null) {
      throw new Error(`${this.name} still running after ${timeoutMs} ms\n${this.describe()}`);
    }
    return code;
  }

  /** For assertion messages: the command line and what it printed. */
  describe(): string {
    const tail = (text: string) => (text.length > 4000 ? `...${text.slice(-4000)}` : text);
    return [
      `$ ${this.cmd.join(" ")}`,
      `exit: ${this.exitCode ?? "(running)"} after ${Math.round(this.elapsedMs)} ms`,
      this.err === "" ? "stderr: (empty)" : `stderr:\n${tail(this.err)}`,
      this.out === "" ? "" : `stdout:\n${tail(this.out)}`,
    ].join("\n");
  }
}

async function drain(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }));
}

/** Every process a test file starts; `killAll()` in afterEach/afterAll leaves none behind, even on failure. */
export class Children {
  private readonly all: Child[] = [];

  spawn(name: string, cmd: string[], options?: ChildOptions): Child {
    const child = new Child(name, cmd, options);
    this.all.push(child);
    return child;
  }

  async killAll(): Promise<void> {
    const live = this.all.splice(0);
    for (const child of live) child.kill("SIGKILL");
    await Promise.all(live.map((child) => Promise.race([child.exited, sleep(5_000)])));
  }
}

/** Runs a command to completion, capturing its output. */
export async function run(cmd: string[], options?: ChildOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Child(cmd[0], cmd, options);
  const code = await child.exited;
  return { code, stdout: child.stdout, stderr: child.stderr };
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
// Waiting, ports, scratch directories

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` every 20 ms; throws naming `what` (and `detail()`, if given) after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = "condition",
  detail?: () => string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (performance.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail === undefined ? "" : `\n${detail()}`}`);
    }
    await sleep(20);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for processes that must be told their port). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

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
