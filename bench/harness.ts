/**
 * Runs one load against one server: the server as a child pinned to CPU 0, the clients (load.ts, with any
 * FFmpeg publishers it starts) as a second child pinned to CPU 1, each load on a fresh server. Every child
 * is killed on error, Ctrl-C or exit, and scratch directories are removed.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../test/helpers/media.ts";
import type { LoadResult, LoadSpec } from "./load.ts";
import { peakRssMiB } from "./proc-stats.ts";
import { ROOT, type ServerTarget, serverCommand } from "./servers.ts";

/** What a shape asks of the clients; the harness adds the port and the server's pid. */
export type LoadRequest = Omit<LoadSpec, "port" | "serverPid">;

export interface LoadRun {
  target: ServerTarget;
  request: LoadRequest;
  result: LoadResult;
  /** The server's highest RSS over its life (it serves this load only). */
  peakRssMiB: number;
}

export const SERVER_CPU = 0;
export const CLIENT_CPU = 1;
const START_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 3_000;
/** Beyond the load's own length: setup, joins, drain, teardown. */
const CLIENTS_SLACK_MS = 120_000;

/** Every child alive right now, with how to kill it (the clients with their whole process group). */
const live = new Map<Subprocess, () => void>();
/** Scratch directories in use, removed on the way out even when a signal cuts a run short. */
const scratch = new Set<string>();

function track(proc: Subprocess, kill: () => void): void {
  live.set(proc, kill);
  void proc.exited.then(() => live.delete(proc));
}

/** Kills every child and removes every scratch directory. */
function cleanUp(): void {
  for (const kill of live.values()) kill();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}

/** Cleans up (children, scratch directories) on Ctrl-C, SIGTERM and exit while `body` runs. */
export async function withCleanupOnExit<T>(body: () => Promise<T>): Promise<T> {
  const onSignal = () => {
    cleanUp();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", cleanUp);
  try {
    return await body();
  } finally {
    cleanUp();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", cleanUp);
  }
}

/** taskset prefix pinning a child to one CPU, or nothing where taskset is missing. */
export function pinned(cpu: number): string[] {
  return Bun.which("taskset") === null ? [] : ["taskset", "-c", String(cpu)];
}

async function waitForPort(port: number, server: Subprocess): Promise<void> {
  const deadline = performance.now() + START_DEADLINE_MS;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode} before listening`);
    try {
      const probe = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.end();
      return;
    } catch {
      if (performance.now() > deadline) {
        throw new Error(`the server is not listening on ${port} after ${START_DEADLINE_MS} ms`);
      }
      await Bun.sleep(50);
    }
  }
}

async function stop(proc: Subprocess): Promise<void> {
  proc.kill("SIGTERM");
  const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(STOP_GRACE_MS).then(() => false)]);
  if (!exited) proc.kill("SIGKILL");
}

/** load.ts in its own process group, so that killing the group also ends the FFmpeg publishers it started. */
async function runClients(spec: LoadSpec): Promise<LoadResult> {
  const clients = Bun.spawn([...pinned(CLIENT_CPU), process.execPath, "bench/load.ts", JSON.stringify(spec)], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
    detached: true,
  });
  const killGroup = () => {
    try {
      process.kill(-clients.pid, "SIGKILL");
    } catch {
      // The group is gone already.
    }
  };
  track(clients, killGroup);
  const limitMs = (spec.seconds + (spec.churn?.afterSeconds ?? 0)) * 1000 + CLIENTS_SLACK_MS;
  const timer = setTimeout(killGroup, limitMs);
  try {
    const [stdout, code] = await Promise.all([new Response(clients.stdout).text(), clients.exited]);
    if (code !== 0) {
      throw new Error(`load.ts exited with code ${code}${code === 137 ? ` (killed after ${limitMs} ms?)` : ""}`);
    }
    return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as LoadResult;
  } finally {
    clearTimeout(timer);
    killGroup();
  }
}

/** Starts a fresh `target`, runs `request` against it, stops it. */
export async function runLoadOn(target: ServerTarget, request: LoadRequest): Promise<LoadRun> {
  const dir = mkdtempSync(join(tmpdir(), "rtmp-bench-"));
  scratch.add(dir);
  const logPath = join(dir, "server.log");
  const logFd = openSync(logPath, "w");
  const port = freePort();
  let server: Subprocess | undefined;
  try {
    const { cmd, cwd } = serverCommand(target, dir, port);
    // Output goes to a file, never to a pipe nobody reads: a full pipe would stall the server mid-run.
    server = Bun.spawn([...pinned(SERVER_CPU), ...cmd], { cwd, stdin: "ignore", stdout: logFd, stderr: logFd });
    const proc = server;
    track(proc, () => proc.kill("SIGKILL"));
    await waitForPort(port, server);
    const result = await runClients({ ...request, port, serverPid: server.pid });
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode} during the run`);
    return { target, request, result, peakRssMiB: peakRssMiB(server.pid) };
  } catch (err) {
    // nginx writes its errors to logs/error.log, not to its output.
    const logs = [logPath, join(dir, "logs", "error.log")].filter((p) => existsSync(p));
    const log = logs.map((p) => readFileSync(p, "utf8")).join("");
    const tail = log.length > 3000 ? `...${log.slice(-3000)}` : log;
    const load = `${request.streams}x${request.playersPerStream}`;
    throw new Error(`${target.label}, ${load}: ${(err as Error).message}${tail === "" ? "" : `\nserver log:\n${tail}`}`);
  } finally {
    if (server !== undefined) await stop(server);
    closeSync(logFd);
    rmSync(dir, { recursive: true, force: true });
    scratch.delete(dir);
  }
}
