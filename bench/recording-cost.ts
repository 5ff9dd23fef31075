/**
 * What recording costs: `bun bench/recording-cost.ts [GB=1] [streams=4] [speed=8] [format=flv|mp4]` records a real
 * 16 Mbit/s H.264+AAC source, looped with advancing timestamps, through the Recorder into a temp directory,
 * `streams` publications at `speed` times real time, in 20 ms slices with the event loop free in between
 * (as a live server's is). Prints the process CPU seconds per GB written (all threads: the copies on the JS
 * thread, write(2) on Bun's pool threads), the JS-thread time inside output.frame() per GB, the longest
 * single frame() call (flushes included; the write itself runs off the event loop) and dropped frames; then,
 * for scale on the same machine in the same minute, the CPU per GB of plain 256 KiB write(2) calls.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventChannel } from "../src/events/events.ts";
import { createLogger } from "../src/logger.ts";
import { FrameArena } from "../src/media/frame.ts";
import { isAudioSequenceHeader, isVideoSequenceHeader, opensGop } from "../src/media/codec-info.ts";
import { Recorder } from "../src/record/recorder.ts";
import type { RecordingFormatName } from "../src/record/recording-format.ts";
import type { StreamOutput } from "../src/streams/output.ts";
import { testSource } from "../support/test-source.ts";
import { FedStream, flvTags } from "../support/fed-stream.ts";

const gigabytes = Number(process.argv[2] ?? 1);
const streams = Number(process.argv[3] ?? 4);
const speed = Number(process.argv[4] ?? 8);
const format = (process.argv[5] ?? "flv") as RecordingFormatName;
const SLICE_MS = 20;

const source = await flvTags(await testSource({ seconds: 8, cbr: "16M" }));
const headers = source.filter((t) => t.type === 18 || isVideoSequenceHeader(t.data) || isAudioSequenceHeader(t.data));
const media = source.filter((t) => !headers.includes(t));
const loopMs = media[media.length - 1].timestamp + 40;
const loopBytes = media.reduce((n, t) => n + t.data.length + 15, 0);
const loops = Math.ceil((gigabytes * 1e9) / loopBytes / streams);

const dir = mkdtempSync(join(tmpdir(), "rtmp-record-cost-"));
let dropped = 0;
const log = createLogger({
  level: "info",
  format: "json",
  write: (line) => {
    const record = JSON.parse(line) as { level: string; msg: string; dropped?: number };
    if (record.msg === "recording finished") dropped += record.dropped ?? 0;
    else if (record.level !== "info") console.log(line);
  },
});
const recorder = new Recorder({ enabled: true, dir, segmentMs: 0, streams: [], format }, log, new EventChannel(log));
const fed = Array.from({ length: streams }, (_, i) => new FedStream("live", `cost${i}`));
const outputs = fed.map((stream) => recorder.output(stream) as StreamOutput);
for (let s = 0; s < streams; s++) for (const tag of headers) fed[s].deliver(outputs[s], tag);

const arena = new FrameArena();
const callTimes: number[] = [];
let callMs = 0;
const cpuBefore = process.cpuUsage();
const started = performance.now();
for (let loop = 0; loop < loops; loop++) {
  for (let next = 0; next < media.length; ) {
    const sliceEnd = media[next].timestamp + SLICE_MS;
    for (; next < media.length && media[next].timestamp < sliceEnd; next++) {
      const tag = media[next];
      const timestamp = tag.timestamp + loop * loopMs;
      for (let s = 0; s < streams; s++) {
        // The stream's own copy into its slab, as src/streams/stream.ts makes it, is not the recorder's cost.
        const frame = arena.frame(tag.type, timestamp, tag.data, tag.type === 9 && opensGop(tag.data));
        const t0 = performance.now();
        outputs[s].frame(frame);
        const took = performance.now() - t0;
        frame.release();
        callMs += took;
        callTimes.push(took);
      }
    }
    // Real time at `speed`: wait until the wall clock reaches this slice's media time.
    const due = started + (loop * loopMs + sliceEnd) / speed;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
  }
}
for (const output of outputs) output.end();
await recorder.stop(performance.now() + 60_000);
const wallS = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const { bytes, errors } = recorder.stats();
rmSync(dir, { recursive: true, force: true });

/** CPU seconds per GB of writing `total` bytes as 256 KiB write(2) calls, then fsync: the disk's own cost. */
function plainWriteCpuPerGb(total: number): number {
  const chunk = new Uint8Array(256 * 1024).fill(1);
  const path = join(tmpdir(), `rtmp-record-cost-plain-${process.pid}`);
  const before = process.cpuUsage();
  const fd = openSync(path, "w");
  for (let written = 0; written < total; written += chunk.length) writeSync(fd, chunk);
  fsyncSync(fd);
  closeSync(fd);
  const used = process.cpuUsage(before);
  rmSync(path);
  return (used.user + used.system) / 1e6 / (total / 1e9);
}
const plain = plainWriteCpuPerGb(bytes);

callTimes.sort((a, b) => a - b);
const gb = bytes / 1e9;
const round = (n: number, digits = 3) => Number(n.toFixed(digits));
console.log(
  JSON.stringify({
    streams,
    speed,
    format,
    mbit_per_s: round((bytes * 8) / 1e6 / wallS, 0),
    gb_written: round(gb),
    errors,
    dropped,
    wall_s: round(wallS, 2),
    cpu_s_per_gb: round((cpu.user + cpu.system) / 1e6 / gb),
    cpu_user_s_per_gb: round(cpu.user / 1e6 / gb),
    cpu_system_s_per_gb: round(cpu.system / 1e6 / gb),
    plain_write_cpu_s_per_gb: round(plain),
    js_thread_frame_s_per_gb: round(callMs / 1000 / gb),
    frame_call_p99_ms: round(callTimes[Math.floor(callTimes.length * 0.99)]),
    frame_call_max_ms: round(callTimes[callTimes.length - 1]),
  }),
);
