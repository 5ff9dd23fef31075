/**
 * Runs one load against one server: the server as a child, the clients (load.ts, with any FFmpeg publishers
 * it starts) as a second child, each load on a fresh server; pinned, the server to CPU 0 and the clients to
 * CPU 1, or free, every process on every core as deployed. A variant's outputs get their helpers beside the
 * clients, and are checked once the server has stopped. Every child is killed on error, Ctrl-C or exit, and
 * scratch directories are removed. Runs of several server processes at once (cluster-runs.ts) use its parts.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../support/free-port.ts";
import { waitFor } from "../support/wait.ts";
import type { LoadResult, LoadSpec } from "./load.ts";
import { type OutputsCheck, RunOutputs } from "./outputs.ts";
import { peakRssMiB } from "./proc-stats.ts";
import { ROOT, type ServerTarget, listensOnHttp, playsOver, serverCommand } from "./servers.ts";

/** What a shape asks of the clients; the harness adds where the server is and how to play it. */
export type LoadRequest = Omit<LoadSpec, "port" | "serverPid" | "protocol" | "httpPort" | "helperPids">;

export interface LoadRun {
  target: ServerTarget;
  request: LoadRequest;
  result: LoadResult;
  cores: Cores;
  /** The server's highest RSS over its life (it serves this load only). */
  peakRssMiB: number;
  /** A variant with outputs: what they were checked to have done. */
  outputs?: OutputsCheck;
}

/**
 * pinned: the server on CPU 0, the clients and helpers on CPU 1, so that neither takes the other's time and
 * the server's threads share one core; free: everything on every core, as a server is deployed, where the
 * threads beside the JS thread (GC helpers, Bun's pool) run in parallel with it.
 */
export const CORES = ["pinned", "free"] as const;
export type Cores = (typeof CORES)[number];
export const SERVER_CPU = 0;
export const CLIENT_CPU = 1;
const START_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 3_000;
/** A server with outputs finishes them when it stops: its timeouts.shutdown (10 s), and a margin. */
const OUTPUTS_STOP_GRACE_MS = 12_000;
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

/** Whether runs can be pinned: taskset is there. */
export function canPin(): boolean {
  return Bun.which("taskset") !== null;
}

/** The prefix of a child's command: taskset to `cpu` when pinned, nothing when free. */
function on(cores: Cores, cpu: number): string[] {
  if (cores === "free") return [];
  if (!canPin()) throw new Error("pinned runs need taskset (util-linux)");
  return ["taskset", "-c", String(cpu)];
}

/** Resolves once `port` takes a connection; fails at once if `proc` exits first. */
async function waitForPort(port: number, proc: Subprocess, what = "the server"): Promise<void> {
  const accepts = async () => {
    if (proc.exitCode !== null) throw new Error(`${what} exited with code ${proc.exitCode} before listening on ${port}`);
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(accepts, START_DEADLINE_MS, `${what} to listen on ${port}`);
}

/** SIGTERM, then SIGKILL after `graceMs`; says whether it exited on its own. */
export async function stop(proc: Subprocess, graceMs = STOP_GRACE_MS): Promise<boolean> {
  proc.kill("SIGTERM");
  const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!exited) proc.kill("SIGKILL");
  return exited;
}

/** A helper of the outputs (relay sink, webhook receiver) beside the clients, tracked like every child. */
async function startHelper(cores: Cores, cmd: string[], port: number, cwd = ROOT): Promise<Subprocess> {
  const proc = Bun.spawn([...on(cores, CLIENT_CPU), ...cmd], { cwd, stdin: "ignore", stdout: "ignore", stderr: "inherit" });
  track(proc, () => proc.kill("SIGKILL"));
  try {
    await waitForPort(port, proc, cmd.slice(0, 2).join(" "));
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  return proc;
}

/** A scratch directory for one run's files, removed on the way out even when a signal cuts the run short. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rtmp-bench-"));
  scratch.add(dir);
  return dir;
}

export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  scratch.delete(dir);
}

/** A server process on the server's CPU, its output to `logFd`, tracked; resolves once it listens on `ports`. */
export async function startServer(cmd: string[], cwd: string, cores: Cores, logFd: number, ports: number[]): Promise<Subprocess> {
  // Output goes to a file, never to a pipe nobody reads: a full pipe would stall the server mid-run.
  const server = Bun.spawn([...on(cores, SERVER_CPU), ...cmd], { cwd, stdin: "ignore", stdout: logFd, stderr: logFd });
  track(server, () => server.kill("SIGKILL"));
  try {
    for (const port of ports) await waitForPort(port, server);
  } catch (err) {
    server.kill("SIGKILL");
    throw err;
  }
  return server;
}

/** load.ts in its own process group, so that killing the group also ends the FFmpeg publishers it started. */
export async function runClients(spec: LoadSpec, cores: Cores): Promise<LoadResult> {
  const clients = Bun.spawn([...on(cores, CLIENT_CPU), process.execPath, "bench/load.ts", JSON.stringify(spec)], {
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

/** The server's configuration beyond its RTMP port: the HTTP listener and the outputs, when it has them. */
function extraConfig(httpPort: number | undefined, outputs: RunOutputs | undefined): string[] {
  const http = httpPort === undefined ? [] : ["http:", `  listen: "127.0.0.1:${httpPort}"`];
  return [...http, ...(outputs?.yaml ?? [])];
}

/** Reads the server's counters, stops it (so that it finishes its outputs), then checks what they did. */
async function checkOutputs(run: LoadRun, outputs: RunOutputs, server: Subprocess, httpPort: number): Promise<OutputsCheck> {
  await outputs.scrape(httpPort);
  const stopped = await stop(server, OUTPUTS_STOP_GRACE_MS);
  const streams = Array.from({ length: run.request.streams }, (_, s) => `s${s}`);
  // A recording or relayed publication spans more than the window: half of one player's window is a floor.
  const minBytes = Math.floor(run.result.bytes / Math.max(1, run.result.playing) / 2);
  const check = await outputs.check({ streams, minBytes });
  if (!stopped) check.problems.push(`the server did not stop within ${OUTPUTS_STOP_GRACE_MS} ms of SIGTERM`);
  return check;
}

/** Starts a fresh `target` (and its outputs' helpers), runs `request` against it on `cores`, stops it. */
export async function runLoadOn(target: ServerTarget, request: LoadRequest, cores: Cores): Promise<LoadRun> {
  const dir = scratchDir();
  const logPath = join(dir, "server.log");
  const logFd = openSync(logPath, "w");
  const port = freePort();
  const rtmpServer = target.kind === "rtmp-server" ? target : undefined;
  const httpPort = listensOnHttp(target) ? freePort() : undefined;
  let server: Subprocess | undefined;
  let outputs: RunOutputs | undefined;
  try {
    if (rtmpServer?.outputs.length) outputs = await RunOutputs.start(rtmpServer.outputs, dir, (cmd, port, cwd) => startHelper(cores, cmd, port, cwd));
    const { cmd, cwd } = serverCommand(target, dir, port, extraConfig(httpPort, outputs), httpPort);
    server = await startServer(cmd, cwd, cores, logFd, httpPort === undefined ? [port] : [port, httpPort]);
    const result = await runClients(
      {
        ...request,
        port,
        serverPid: server.pid,
        protocol: playsOver(target),
        httpPort,
        helperPids: outputs?.pids ?? [],
      },
      cores,
    );
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode} during the run`);
    const run: LoadRun = { target, request, result, cores, peakRssMiB: peakRssMiB(server.pid) };
    if (outputs !== undefined && httpPort !== undefined) run.outputs = await checkOutputs(run, outputs, server, httpPort);
    return run;
  } catch (err) {
    // nginx writes its errors to logs/error.log, not to its output.
    const logs = [logPath, join(dir, "logs", "error.log")].filter((p) => existsSync(p));
    const log = logs.map((p) => readFileSync(p, "utf8")).join("");
    const tail = log.length > 3000 ? `...${log.slice(-3000)}` : log;
    const load = `${request.streams}x${request.playersPerStream} ${cores}`;
    throw new Error(`${target.label}, ${load}: ${(err as Error).message}${tail === "" ? "" : `\nserver log:\n${tail}`}`);
  } finally {
    if (server !== undefined) await stop(server);
    await outputs?.stop();
    closeSync(logFd);
    removeScratch(dir);
  }
}
