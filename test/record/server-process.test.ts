/**
 * The server as operators run it (bun src/cli.ts --config FILE) recording an FFmpeg publish, then: killed
 * with SIGKILL (the file must still play), stopped with SIGTERM (the file must be finalized), and limited by
 * RLIMIT_FSIZE (writes fail with EFBIG: the recording ends, the stream and its player go on).
 */
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { waitUntilLive } from "../helpers/live-server.ts";
import {
  type Child,
  Children,
  decodeErrors,
  fileSize,
  freePort,
  play,
  probe,
  publish,
  requireFfmpeg,
  scratchDir,
  testSource,
  waitFor,
} from "../helpers/media.ts";
import { readFlvTags } from "../helpers/flv.ts";
import { indexAsRead, readRecording, recordingsIn, wholeTagsLength } from "./recording-file.ts";

const CLI = resolve(import.meta.dir, "../../src/cli.ts");

describe.skipIf(!requireFfmpeg())("the recording server process", () => {
  const children = new Children();
  const scratch = scratchDir("record-process");
  let runs = 0;
  afterEach(() => children.killAll());
  afterAll(() => scratch.remove());

  /** Starts the server with recording into a fresh directory, `prefix` (e.g. prlimit) before it. */
  async function startServer(prefix: string[] = []): Promise<{ server: Child; port: number; dir: string }> {
    const port = freePort();
    const dir = join(scratch.path, `rec${++runs}`);
    const config = join(scratch.path, `config${runs}.yaml`);
    writeFileSync(
      config,
      [
        `listen: "127.0.0.1:${port}"`,
        "timeouts:",
        "  shutdown: 5s",
        "recording:",
        "  enabled: true",
        `  dir: ${JSON.stringify(dir)}`,
        "",
      ].join("\n"),
    );
    const server = children.spawn("rtmp-server", [...prefix, "bun", CLI, "--config", config]);
    await waitFor(() => !server.running || logLines(server).some((l) => l.msg === "listening"), 10_000, "listening", () => server.describe());
    expect(server.running, server.describe()).toBe(true);
    return { server, port, dir };
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

  it("leaves a playable FLV when killed with SIGKILL mid-publish", async () => {
    const { server, port, dir } = await startServer();
    publish(children, await testSource(), `rtmp://127.0.0.1:${port}/live/crash`);
    const path = await recordedOnDisk(dir, 2_000);
    server.kill("SIGKILL");
    await server.waitExit(5_000);

    const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
    const whole = wholeTagsLength(bytes);
    // At most one torn tag at the end: whatever was in flight when the process died.
    const tags = readFlvTags(bytes.subarray(0, whole));
    expect(bytes.length - whole).toBeLessThan(11 + Math.max(...tags.map((t) => t.data.length)) + 4);
    const intact = join(scratch.path, "crash-intact.flv");
    writeFileSync(intact, bytes.subarray(0, whole));
    expect(await decodeErrors(intact)).toBe("");
    const probed = await probe(path);
    expect(probed.video).toMatchObject({ codecName: "h264" });
    expect(probed.audio).toMatchObject({ codecName: "aac" });
    expect(probed.duration).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it("finalizes the recording on SIGTERM and exits 0", async () => {
    const { server, port, dir } = await startServer();
    publish(children, await testSource(), `rtmp://127.0.0.1:${port}/live/term`);
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

  it("ends only the recording when the disk refuses writes (EFBIG under prlimit --fsize): the player gets everything", async () => {
    const limit = 1_000_000;
    const { server, port, dir } = await startServer(["prlimit", `--fsize=${limit}`]);
    const url = `rtmp://127.0.0.1:${port}/live/full`;
    const source = await testSource({ seconds: 3, cbr: "16M" });
    const publisher = publish(children, source, url);
    await waitUntilLive(port, "full");
    const out = join(scratch.path, "full-player.flv");
    const player = play(children, url, out);

    expect(await publisher.waitExit(20_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    // The player received the whole publish although the recording died in its first second.
    expect((await probe(out)).duration).toBeGreaterThan(2);

    const failures = logLines(server).filter((l) => l.level === "error");
    expect(failures, server.describe()).toHaveLength(1);
    const [path] = recordingsIn(dir);
    expect(failures[0]).toMatchObject({ msg: "recording failed", stream_key: "live/full", path });
    expect(String(failures[0].error)).toContain("EFBIG");
    expect(fileSize(path)).toBeLessThanOrEqual(limit);
    // What was written before the failure is still a playable FLV.
    const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
    const intact = join(scratch.path, "full-intact.flv");
    writeFileSync(intact, bytes.subarray(0, wholeTagsLength(bytes)));
    expect(await decodeErrors(intact)).toBe("");

    expect(server.running, "SIGXFSZ must not kill the server").toBe(true);
    server.kill("SIGTERM");
    expect(await server.waitExit(10_000), server.describe()).toBe(0);
  }, 40_000);
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
