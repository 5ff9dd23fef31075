/**
 * The supervisor of `workers: 2`: it restarts a worker killed with SIGKILL, passes SIGHUP on to every worker,
 * stops them all on SIGTERM and exits 0 with none left, and exits 1 naming the address when a shared port is
 * taken; `workers: 1` is one process, as before workers existed.
 */
import { describe, expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { run } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { testsAtOnce } from "../helpers/at-once.ts";
import { play, publish, requireFfmpeg } from "../helpers/media.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";
import { WorkersTest, childPids, processExists } from "./workers-process.ts";

const ROOT = resolve(import.meta.dir, "../..");
const CLI = join(ROOT, "src/cli.ts");

describe.skipIf(!requireFfmpeg())("the supervisor of workers: 2", () => {
  const tests = testsAtOnce(() => new WorkersTest("workers-lifecycle"));

  tests.it("restarts a worker killed with SIGKILL, and the new one serves on the shared port", async (t) => {
    const server = await t.start(["workers: 2"]);
    const [, before] = await server.workers();
    process.kill(before.pid!, "SIGKILL");

    const exited = await server.waitForLog((l) => l.msg === "worker exited: restarting it", "the supervisor to see the worker die");
    expect(exited).toMatchObject({ worker: 1, pid: before.pid, signal: "SIGKILL" });
    await server.waitForLog((l) => l.msg === "worker restarted" && l.worker === 1, "worker 1 to be restarted");
    const [, after] = await server.workers();
    expect(after).toMatchObject({ index: 1, state: "running", restarts: 1 });
    expect(after.pid).not.toBe(before.pid);
    expect(processExists(before.pid!)).toBe(false);

    // The new worker 1 takes connections on the shared port again.
    const clients: RawRtmpClient[] = [];
    try {
      const onNew = async () => {
        const { connections } = await server.api<{ connections: { worker: number }[] }>("/api/connections");
        return connections.some((c) => c.worker === 1);
      };
      for (let n = 0; n < 40 && !(await onNew()); n++) {
        clients.push(await RawRtmpClient.connect(server.port));
        await waitFor(async () => (await server.api<{ connections: unknown[] }>("/api/connections")).connections.length === clients.length, 5_000, "the connection in the API");
      }
      expect(await onNew()).toBe(true);
    } finally {
      for (const client of clients) client.close();
    }
  }, 60_000);

  tests.it("passes SIGHUP on to every worker", async (t) => {
    const tokens = join(t.scratch.path, "hup-tokens.json");
    writeFileSync(tokens, JSON.stringify({ "live/a": "one" }));
    const server = await t.start(["workers: 2", "auth:", "  mode: file", `  file: ${JSON.stringify(tokens)}`]);
    const from = server.logs().length;
    server.process.kill("SIGHUP");
    for (const worker of [0, 1]) {
      await server.waitForLog((l) => l.msg === "auth token file reloaded" && l.worker === worker, `worker ${worker} to reload its token file`, 10_000, from);
    }
    expect(server.process.running).toBe(true);
  }, 30_000);

  tests.it("stops every worker on SIGTERM, ending their streams, and exits 0 with none left", async (t) => {
    const server = await t.start(["workers: 2", "timeouts:", "  shutdown: 3s"]);
    const pids = (await server.workers()).map((w) => w.pid!);
    publish(t.children, await testSource({ seconds: 30 }), server.rtmpUrl("term"));
    const player = play(t.children, server.rtmpUrl("term"), null);
    await server.waitForLog((l) => l.msg === "play start" && l.stream_key === "live/term", "a player of live/term");

    server.process.kill("SIGTERM");
    expect(await server.process.waitExit(3_000 + 5_000), server.process.describe()).toBe(0);
    expect(pids.filter(processExists)).toEqual([]);
    const stopped = server.logs().filter((l) => l.msg === "server stopped").map((l) => l.worker);
    expect(stopped.sort()).toEqual([0, 1]);
    // The player heard the end of the stream and left by itself.
    await player.waitExit(5_000);
  }, 60_000);

  tests.it("stops gracefully when SIGTERM reaches the whole process group at once (systemd, a terminal's Ctrl-C)", async (t) => {
    // setsid: the server leads a process group of its own, its workers in it.
    const server = await t.start(["workers: 2", "timeouts:", "  shutdown: 3s"], { command: ["setsid", "bun", CLI] });
    process.kill(-server.process.pid, "SIGTERM");
    expect(await server.process.waitExit(3_000 + 5_000), server.process.describe()).toBe(0);
    expect(server.logs().filter((l) => l.msg === "server stopped").map((l) => l.worker).sort()).toEqual([0, 1]);
    expect(server.logs().some((l) => l.msg === "second signal: exiting at once")).toBe(false);
  }, 30_000);

  tests.it("exits 1 naming the address when a shared port is taken, and starts no worker", async (t) => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const config = join(t.scratch.path, "taken.yaml");
      writeFileSync(config, [`listen: "127.0.0.1:${taken.port}"`, "workers: 2", ""].join("\n"));
      const server = t.children.spawn("rtmp-server (port taken)", ["bun", CLI, "--config", config]);
      expect(await server.waitExit(10_000)).toBe(1);
      expect(server.stderr).toContain(`cannot listen on 127.0.0.1:${taken.port} (rtmp)`);
      expect(server.stdout).not.toContain('"worker":');
    } finally {
      taken.stop(true);
    }
  }, 30_000);

  tests.it("starts the compiled executable's workers from the executable itself", async (t) => {
    // The build script's own command, writing elsewhere than dist/ (another test builds there).
    const binary = join(t.scratch.path, "rtmp-server");
    const build = await run(pkg.scripts.build.replace("dist/rtmp-server", binary).split(" "), { cwd: ROOT });
    expect(build.code, build.stderr).toBe(0);
    const server = await t.start(["workers: 2"], { command: [binary] });
    const workers = await server.workers();
    expect(workers.map((w) => w.state)).toEqual(["running", "running"]);
    for (const { pid } of workers) expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]).toBe(binary);
    server.process.kill("SIGTERM");
    expect(await server.process.waitExit(15_000), server.process.describe()).toBe(0);
  }, 60_000);

  tests.it("runs one process, whose lines name no worker, with workers: 1", async (t) => {
    const server = await t.start(["workers: 1"], { ready: "listening" });
    await waitFor(() => server.logs().filter((l) => l.msg === "listening").length === 2, 5_000, "RTMP and HTTP listening");
    expect(childPids(server.process.pid)).toEqual([]);
    expect(server.logs().some((l) => "worker" in l || l.msg === "starting workers")).toBe(false);
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/api/workers`);
    expect(response.status).toBe(404);
  }, 30_000);
});
