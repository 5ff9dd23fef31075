/**
 * The server as operators run it (bun src/cli.ts --config FILE) recording an FFmpeg publish, then: killed
 * with SIGKILL (the file must still play), stopped with SIGTERM (the file must be finalized), and limited by
 * RLIMIT_FSIZE (writes fail with EFBIG: the recording ends, the stream and its player go on). The same for
 * recording.format mp4, whose file must also play while it is written, and seek once finalized.
 */
import { afterAll, describe, expect } from "bun:test";
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from "mediabunny";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { waitUntilLive } from "../helpers/live-server.ts";
import { decodeErrors, fileSize, play, probe, publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { type Child, run } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { readFlvTags } from "../../support/flv-tags.ts";
import { boxesFfmpegOpens, readMp4, readMp4File, readMp4SoFar, wholeBoxesLength } from "./mp4-reading.ts";
import { indexAsRead, readRecording, recordingsIn, wholeTagsLength } from "./recording-file.ts";

const CLI = resolve(import.meta.dir, "../../src/cli.ts");

describe.skipIf(!requireFfmpeg())("the recording server process", () => {
  const tests = testsAtOnce(() => new Scope());
  const scratch = scratchDir("record-process");
  let runs = 0;
  afterAll(() => scratch.remove());

  /**
   * Starts the test's server with its own work directory (config, recordings in `dir`, files the test
   * writes), `prefix` (e.g. prlimit) before it and `recording` (more lines of its section, e.g.
   * "  format: mp4") in its config.
   */
  async function startServer(
    scope: Scope,
    prefix: string[] = [],
    recording: string[] = [],
  ): Promise<{ server: Child; port: number; dir: string; work: string }> {
    const port = freePort();
    const work = join(scratch.path, `run${++runs}`);
    mkdirSync(work);
    const dir = join(work, "recordings");
    const config = join(work, "config.yaml");
    writeFileSync(
      config,
      [
        `listen: "127.0.0.1:${port}"`,
        "timeouts:",
        "  shutdown: 5s",
        "recording:",
        "  enabled: true",
        `  dir: ${JSON.stringify(dir)}`,
        ...recording,
        "",
      ].join("\n"),
    );
    const server = scope.children.spawn("rtmp-server", [...prefix, "bun", CLI, "--config", config]);
    await waitFor(() => !server.running || logLines(server).some((l) => l.msg === "listening"), 10_000, "listening", () => server.describe());
    expect(server.running, server.describe()).toBe(true);
    return { server, port, dir, work };
  }

  /** Waits until the recording on disk holds `ms` of media: flushed while the publisher still publishes. */
  async function recordedOnDisk(dir: string, ms: number): Promise<string> {
    let path = "";
    await waitFor(
      () => {
        path = recordingsIn(dir)[0] ?? "";
        if (path === "") return false;
        const bytes = new Uint8Array(readFileSync(path));
        if (wholeTagsLength(bytes) === 0) return false;
        const tags = readFlvTags(bytes.subarray(0, wholeTagsLength(bytes)));
        return tags.some((t) => t.type !== 18 && t.timestamp >= ms);
      },
      15_000,
      `${ms} ms of media in the file on disk`,
    );
    return path;
  }

  /** Waits until the MP4 on disk holds whole fragments up to `ms` of video: written while the publisher publishes. */
  async function mp4OnDisk(dir: string, ms: number): Promise<string> {
    let path = "";
    await waitFor(
      () => {
        path = recordingsIn(dir, "mp4")[0] ?? "";
        const file = path === "" ? null : readMp4SoFar(path);
        return file !== null && file.fragments.some((f) => (f.runs[0].baseDecodeTime * 1000) / file.tracks[0].timescale >= ms);
      },
      15_000,
      `${ms} ms of media in the MP4 on disk`,
    );
    return path;
  }

  tests.it("leaves a playable FLV when killed with SIGKILL mid-publish", async (scope) => {
    const { server, port, dir, work } = await startServer(scope);
    publish(scope.children, await testSource(), `rtmp://127.0.0.1:${port}/live/crash`);
    const path = await recordedOnDisk(dir, 2_000);
    server.kill("SIGKILL");
    await server.waitExit(5_000);

    const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
    const whole = wholeTagsLength(bytes);
    // At most one torn tag at the end: whatever was in flight when the process died.
    const tags = readFlvTags(bytes.subarray(0, whole));
    expect(bytes.length - whole).toBeLessThan(11 + Math.max(...tags.map((t) => t.data.length)) + 4);
    const intact = join(work, "crash-intact.flv");
    writeFileSync(intact, bytes.subarray(0, whole));
    expect(await decodeErrors(intact)).toBe("");
    const probed = await probe(path);
    expect(probed.video).toMatchObject({ codecName: "h264" });
    expect(probed.audio).toMatchObject({ codecName: "aac" });
    expect(probed.duration).toBeGreaterThanOrEqual(2);
  }, 30_000);

  tests.it("finalizes the recording on SIGTERM and exits 0", async (scope) => {
    const { server, port, dir } = await startServer(scope);
    publish(scope.children, await testSource(), `rtmp://127.0.0.1:${port}/live/term`);
    const path = await recordedOnDisk(dir, 2_000);
    server.kill("SIGTERM");
    expect(await server.waitExit(10_000), server.describe()).toBe(0);

    const file = await readRecording(path);
    expect(file.meta.filesize).toBe(file.bytes.length);
    expect(file.meta.duration).toBeGreaterThanOrEqual(2);
    expect((await indexAsRead(path)).length).toBeGreaterThanOrEqual(2);
    expect(await decodeErrors(path)).toBe("");
    expect(logLines(server).filter((l) => l.msg === "recording finished")).toHaveLength(1);
  }, 30_000);

  for (const format of ["flv", "mp4"] as const) {
    tests.it(`ends only the ${format} recording when the disk refuses writes (EFBIG under prlimit --fsize): the player gets everything`, async (scope) => {
      // An MP4 fragment (a GOP of this 16 Mbit/s stream) is 2 MB: room for two before the disk says no.
      const limit = format === "flv" ? 1_000_000 : 5_000_000;
      const { server, port, dir, work } = await startServer(scope, ["prlimit", `--fsize=${limit}`], [`  format: ${format}`]);
      const url = `rtmp://127.0.0.1:${port}/live/full`;
      const source = await testSource({ seconds: 3, cbr: "16M" });
      const publisher = publish(scope.children, source, url);
      await waitUntilLive(port, "full");
      const out = join(work, "full-player.flv");
      const player = play(scope.children, url, out);

      expect(await publisher.waitExit(20_000), publisher.describe()).toBe(0);
      expect(await player.waitExit(10_000), player.describe()).toBe(0);
      // The player received the whole publish although the recording died early on.
      expect((await probe(out)).duration).toBeGreaterThan(2);

      const failures = logLines(server).filter((l) => l.level === "error");
      expect(failures, server.describe()).toHaveLength(1);
      const [path] = recordingsIn(dir, format);
      expect(failures[0]).toMatchObject({ msg: "recording failed", stream_key: "live/full", path });
      expect(String(failures[0].error)).toContain("EFBIG");
      expect(fileSize(path)).toBeLessThanOrEqual(limit);
      // What was written before the failure still plays.
      const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
      const intact = join(work, `full-intact.${format}`);
      writeFileSync(intact, bytes.subarray(0, format === "flv" ? wholeTagsLength(bytes) : wholeBoxesLength(bytes)));
      expect(await decodeErrors(intact)).toBe("");

      expect(server.running, "SIGXFSZ must not kill the server").toBe(true);
      server.kill("SIGTERM");
      expect(await server.waitExit(10_000), server.describe()).toBe(0);
    }, 40_000);
  }

  tests.it("records an MP4 that plays while written and, killed with SIGKILL, decodes to the end of its last whole fragment", async (scope) => {
    const { server, port, dir, work } = await startServer(scope, [], ["  format: mp4"]);
    publish(scope.children, await testSource(), `rtmp://127.0.0.1:${port}/live/crash`);
    const path = await mp4OnDisk(dir, 2_000);
    expect(path).toMatch(/\/live_crash_\d{8}_\d{6}\.mp4$/);
    // Playable while it is written: FFmpeg reads what is on disk so far.
    const growing = await probe(path);
    expect(growing.video).toMatchObject({ codecName: "h264", width: 320, height: 240 });
    expect(growing.audio).toMatchObject({ codecName: "aac" });
    expect(growing.duration).toBeGreaterThanOrEqual(2);

    server.kill("SIGKILL");
    await server.waitExit(5_000);
    const bytes = new Uint8Array(readFileSync(path));
    const whole = wholeBoxesLength(bytes);
    const file = readMp4(bytes.subarray(0, whole));
    // A fragment is one write: at most the one in flight when the process died is cut short.
    const largest = Math.max(...file.top.map((b) => b.bytes.length));
    expect(bytes.length - whole).toBeLessThan(2 * largest);
    const intact = join(work, "crash-intact.mp4");
    writeFileSync(intact, bytes.subarray(0, whole));
    expect(await decodeErrors(intact)).toBe("");
    // Every video sample of the whole fragments decodes, and the file lasts until the last one ends.
    const frames = await run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", intact]);
    const samples = file.fragments.flatMap((f) => f.runs[0].samples);
    expect(Number(frames.stdout.trim())).toBe(samples.length);
    const last = file.fragments.at(-1)!.runs[0];
    const endSeconds = (last.baseDecodeTime + last.samples.reduce((n, s) => n + s.duration, 0)) / file.tracks[0].timescale;
    expect((await probe(path)).duration).toBeCloseTo(endSeconds, 1);
    expect(file.sidx).toEqual([]);
  }, 30_000);

  tests.it("finalizes the MP4 on SIGTERM: FFmpeg opens it reading one fragment and seeks in it, mediabunny reads it", async (scope) => {
    const { server, port, dir } = await startServer(scope, [], ["  format: mp4"]);
    publish(scope.children, await testSource(), `rtmp://127.0.0.1:${port}/live/term`);
    const path = await mp4OnDisk(dir, 3_000);
    server.kill("SIGTERM");
    expect(await server.waitExit(10_000), server.describe()).toBe(0);
    expect(logLines(server).filter((l) => l.msg === "recording finished")).toHaveLength(1);

    const file = readMp4File(path);
    expect(file.top.map((b) => b.type).slice(2, 4)).toEqual(["sidx", "sidx"]);
    expect(file.top.at(-1)!.type).toBe("mfra");
    const probed = await probe(path);
    expect(probed.video).toMatchObject({ codecName: "h264", width: 320, height: 240 });
    expect(probed.duration).toBeGreaterThanOrEqual(3);
    expect(await decodeErrors(path)).toBe("");
    expect((await boxesFfmpegOpens(path)).filter((t) => t === "moof")).toHaveLength(1);
    const middle = (probed.duration / 2).toFixed(2);
    const decoded = await run(["ffmpeg", "-v", "error", "-ss", middle, "-i", path, "-frames:v", "1", "-f", "null", "-"]);
    expect(decoded.stderr).toBe("");
    expect(decoded.code).toBe(0);

    const input = new Input({ source: new BufferSource(file.bytes), formats: ALL_FORMATS });
    expect(await input.computeDuration()).toBeCloseTo(probed.duration, 1);
    const key = await new EncodedPacketSink((await input.getPrimaryVideoTrack())!).getKeyPacket(Number(middle));
    expect(key!.timestamp).toBeGreaterThan(Number(middle) - 1.1);
  }, 30_000);

  tests.it("cuts recording.segment MP4 files named {app}_{name}_{time}.mp4, each opening with a keyframe", async (scope) => {
    const { server, port, dir } = await startServer(scope, [], ["  format: mp4", "  segment: 1s"]);
    const publisher = publish(scope.children, await testSource({ seconds: 3 }), `rtmp://127.0.0.1:${port}/live/seg`);
    expect(await publisher.waitExit(20_000), publisher.describe()).toBe(0);
    server.kill("SIGTERM");
    expect(await server.waitExit(10_000), server.describe()).toBe(0);

    const paths = recordingsIn(dir, "mp4");
    expect(paths).toHaveLength(3);
    for (const path of paths) {
      expect(path).toMatch(/\/live_seg_\d{8}_\d{6}(_\d+)?\.mp4$/);
      const file = readMp4File(path);
      expect(file.fragments[0].runs[0].samples[0].sync).toBe(true);
      expect(await decodeErrors(path)).toBe("");
      expect((await probe(path)).duration).toBeGreaterThan(0.9);
    }
  }, 40_000);

  tests.it("records an audio-only publish as an MP4 with one audio track", async (scope) => {
    const audioOnly = join(scratch.path, "audio-only.flv");
    const made = await run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", await testSource({ seconds: 3 }), "-vn", "-c:a", "copy", "-f", "flv", audioOnly]);
    expect(made.code, made.stderr).toBe(0);
    const { server, port, dir } = await startServer(scope, [], ["  format: mp4"]);
    const publisher = publish(scope.children, audioOnly, `rtmp://127.0.0.1:${port}/live/radio`);
    expect(await publisher.waitExit(20_000), publisher.describe()).toBe(0);
    server.kill("SIGTERM");
    expect(await server.waitExit(10_000), server.describe()).toBe(0);

    const [path] = recordingsIn(dir, "mp4");
    expect(readMp4File(path).tracks.map((t) => [t.id, t.codec])).toEqual([[1, "mp4a"]]);
    const probed = await probe(path);
    expect(probed.streams.map((s) => s.codecType)).toEqual(["audio"]);
    expect(probed.duration).toBeCloseTo(3, 0);
    expect(await decodeErrors(path)).toBe("");
  }, 30_000);
});

function logLines(child: Child): Array<Record<string, unknown>> {
  return child.stdout.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}
