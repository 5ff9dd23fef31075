/**
 * The executable operators run: `bun run build` once, then dist/rtmp-server as a process, with the
 * contract's flags and exit codes (0 on SIGTERM/SIGINT, 1 when the port is taken).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { waitUntilLive } from "../helpers/live-server.ts";
import { decodeErrors, play, probeTestSourceCopy, publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { Children, run, type Child } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/rtmp-server");

describe.skipIf(!requireFfmpeg())("the compiled binary", () => {
  const children = new Children();
  const scratch = scratchDir("binary");
  const clients: RawRtmpClient[] = [];
  let source: string;

  beforeAll(async () => {
    const [build] = await Promise.all([run(["bun", "run", "build"], { cwd: ROOT }), testSource().then((s) => (source = s))]);
    if (build.code !== 0 || !existsSync(BINARY)) {
      throw new Error(`bun run build failed (exit ${build.code}):\n${build.stdout}\n${build.stderr}`);
    }
  }, 120_000);
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await children.killAll();
  });
  afterAll(() => scratch.remove());

  /** Starts the binary on a free port and waits for its `listening` log line. */
  async function startBinary(): Promise<{ server: Child; port: number }> {
    const port = freePort();
    const args = ["--listen", `127.0.0.1:${port}`, "--log-level", "info"];
    const server = children.spawn("rtmp-server", [BINARY, ...args], { cwd: scratch.path });
    await waitFor(
      () => !server.running || server.stdout.split("\n").some((l) => l.includes('"msg":"listening"')),
      10_000,
      "the listening log line",
      () => server.describe(),
    );
    const listening = server.stdout.split("\n").find((l) => l.includes('"msg":"listening"'));
    expect(listening, server.describe()).toBeDefined();
    expect(JSON.parse(listening!)).toMatchObject({ level: "info", msg: "listening", address: `127.0.0.1:${port}` });
    return { server, port };
  }

  it("serves an FFmpeg publish/play round trip, then exits 0 on SIGTERM with a player still connected", async () => {
    const { server, port } = await startBinary();
    const url = `rtmp://127.0.0.1:${port}/live/bin`;
    const seconds = 3;
    const publisher = publish(children, source, url, { seconds });
    await waitUntilLive(port, "bin");
    const out = join(scratch.path, "bin.flv");
    const player = play(children, url, out);
    expect(await publisher.waitExit(seconds * 1000 + 10_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    await probeTestSourceCopy(out);
    expect(await decodeErrors(out)).toBe("");

    // A player waiting on a stream nobody publishes: shutdown must close it, not wait for it.
    const waiting = await RawRtmpClient.connect(port);
    clients.push(waiting);
    await waiting.play("nobody");
    server.kill("SIGTERM");
    expect(await server.waitExit(12_000), server.describe()).toBe(0);
    expect(await waiting.closedWithin(2_000), "the waiting player's connection was closed").toBe(true);
    expect(server.stderr, "nothing on stderr for a clean run").toBe("");
  }, 60_000);

  it("exits 0 on SIGINT", async () => {
    const { server } = await startBinary();
    server.kill("SIGINT");
    expect(await server.waitExit(12_000), server.describe()).toBe(0);
  }, 30_000);

  it("exits 1 naming the address when the port is in use", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const server = children.spawn("rtmp-server", [BINARY, "--listen", `127.0.0.1:${taken.port}`], { cwd: scratch.path });
      expect(await server.waitExit(10_000), server.describe()).toBe(1);
      expect(server.stderr, server.describe()).toContain(`127.0.0.1:${taken.port}`);
    } finally {
      taken.stop(true);
    }
  }, 30_000);

  it("serves the embedded dashboard, /healthz and /metrics with --http", async () => {
    const httpPort = freePort();
    const server = children.spawn("rtmp-server", [BINARY, "--listen", `127.0.0.1:${freePort()}`, "--http", `127.0.0.1:${httpPort}`], {
      cwd: scratch.path,
    });
    await waitFor(() => !server.running || server.stdout.includes('"protocol":"http"'), 10_000, "HTTP listening", () => server.describe());
    const page = await fetch(`http://127.0.0.1:${httpPort}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>rtmp-server</title>");
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()).toContain("rtmp_connections");
    server.kill("SIGTERM");
    expect(await server.waitExit(12_000), server.describe()).toBe(0);
  }, 30_000);

  it("answers --version and --help with exit 0", async () => {
    const [version, help] = await Promise.all([run([BINARY, "--version"]), run([BINARY, "--help"])]);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^rtmp-server \d+\.\d+\.\d+/);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain("--config FILE");
    expect(help.stdout).toContain("--check-config");
  }, 30_000);
});
