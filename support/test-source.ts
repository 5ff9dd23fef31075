/**
 * The media the interop tests and the benchmarks publish: FLV files of generated H.264+AAC (testsrc and a sine
 * tone), made by FFmpeg on first use and cached under the OS temp dir for later runs.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./children.ts";

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
