/**
 * One load on more than one rtmp-server process: an origin with edges that pull from it (cluster.origins), or
 * one server with `workers`. The publishers publish to the first node and the players play from the nodes a
 * setup names, in turn; the server's CPU is every process's: the nodes', the supervisor's and its workers'
 * (their pids from GET /api/workers), each read from /proc by the clients like a single server's.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../support/free-port.ts";
import { waitFor } from "../support/wait.ts";
import { type Cores, type LoadRequest, type LoadRun, removeScratch, runClients, scratchDir, startServer, stop } from "./harness.ts";
import { peakRssMiB } from "./proc-stats.ts";
import { type RtmpServerTarget, serverCommand } from "./servers.ts";

export interface Setup {
  /** What its rows add to the checkout's label, e.g. "3 nodes", "workers: 2". */
  name: string;
  /** How many nodes: the first is the origin, where the publishers publish; the others pull from it. */
  nodes: number;
  /** `workers` of every node (1: one process). */
  workers: number;
  /** The nodes the players play from, in turn (the first player on the first of these). */
  playOn: number[];
}

export interface ClusterRun extends LoadRun {
  target: RtmpServerTarget;
  setup: Setup;
  /** What each of result.processCpuSeconds is: "node 0", "supervisor", "worker 1"... */
  processes: string[];
  /** With workers: the RTMP players each worker held at the window's end (internal pulls among them). */
  playersByWorker?: number[];
}

/** The secret the edges sign their pulls with: the origin's play auth is open anyway. */
const SECRET = "bench-cluster";
/** Every worker is running within this of the shared port answering. */
const WORKERS_DEADLINE_MS = 20_000;
/** A supervisor stops its workers within timeouts.shutdown (10 s): its own stop may take that long. */
const STOP_GRACE_MS = 12_000;

interface Node {
  proc: Subprocess;
  port: number;
  httpPort: number;
  /** With workers: the workers' pids, in index order. */
  workerPids: number[];
}

/** Node `index`'s configuration beyond its RTMP port: HTTP (for the API), workers, where it pulls from. */
function nodeYaml(setup: Setup, index: number, httpPort: number, originPort: number): string[] {
  const yaml = ["http:", `  listen: "127.0.0.1:${httpPort}"`];
  if (setup.workers > 1) yaml.push(`workers: ${setup.workers}`);
  if (setup.nodes > 1) {
    yaml.push("cluster:", `  secret: "${SECRET}"`);
    if (index > 0) yaml.push(`  origins: ["rtmp://127.0.0.1:${originPort}"]`);
  }
  return yaml;
}

interface WorkerJson {
  index: number;
  pid: number | null;
  state: string;
}

/** The workers' pids once every one of them runs. */
async function workerPids(httpPort: number, count: number): Promise<number[]> {
  let workers: WorkerJson[] = [];
  let last = "no answer";
  const allRunning = async () => {
    try {
      workers = ((await (await fetch(`http://127.0.0.1:${httpPort}/api/workers`)).json()) as { workers: WorkerJson[] }).workers;
      last = JSON.stringify(workers);
    } catch (err) {
      last = (err as Error).message;
    }
    return workers.length === count && workers.every((w) => w.state === "running" && w.pid !== null);
  };
  await waitFor(allRunning, WORKERS_DEADLINE_MS, `${count} workers running`, () => last);
  return workers.sort((a, b) => a.index - b.index).map((w) => w.pid!);
}

/** Node `index`, listening (its workers not yet all running), its output in `logPath`. */
async function startNode(target: RtmpServerTarget, setup: Setup, index: number, logPath: string, originPort: number, cores: Cores): Promise<Node> {
  const dir = dirname(logPath);
  mkdirSync(dir);
  const logFd = openSync(logPath, "w");
  try {
    const port = index === 0 ? originPort : freePort();
    const httpPort = freePort();
    const { cmd, cwd } = serverCommand(target, dir, port, nodeYaml(setup, index, httpPort, originPort));
    return { proc: await startServer(cmd, cwd, cores, logFd, [port, httpPort]), port, httpPort, workerPids: [] };
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(logFd);
  }
}

/** The names of the processes whose CPU the clients read, in the order they read them. */
function processNames(nodes: Node[]): string[] {
  return nodes.flatMap((node, i) => {
    const name = nodes.length === 1 ? "" : `node ${i} `;
    return node.workerPids.length === 0 ? [`${name}server`.trim()] : [`${name}supervisor`, ...node.workerPids.map((_, w) => `${name}worker ${w}`)];
  });
}

/** RTMP players per worker in a GET /api/connections answer. */
function playersByWorker(probe: unknown, workers: number): number[] {
  const counts: number[] = Array(workers).fill(0);
  const connections = (probe as { connections?: { role: string; protocol: string; worker: number }[] } | null)?.connections ?? [];
  for (const c of connections) if (c.role === "player" && c.protocol === "rtmp" && c.worker < workers) counts[c.worker]++;
  return counts;
}

/** Starts the nodes of `setup` (fresh), runs `request` against them on `cores`, stops them. */
export async function runClusterLoad(target: RtmpServerTarget, setup: Setup, request: LoadRequest, cores: Cores): Promise<ClusterRun> {
  const dir = scratchDir();
  const logPaths = Array.from({ length: setup.nodes }, (_, i) => join(dir, `node${i}`, "server.log"));
  const nodes: Node[] = [];
  try {
    const originPort = freePort();
    for (const [i, logPath] of logPaths.entries()) {
      const node = await startNode(target, setup, i, logPath, originPort, cores);
      nodes.push(node);
      if (setup.workers > 1) node.workerPids = await workerPids(node.httpPort, setup.workers);
    }
    const [origin, ...others] = nodes;
    const result = await runClients(
      {
        ...request,
        port: origin.port,
        serverPid: origin.proc.pid,
        serverPids: [...origin.workerPids, ...others.flatMap((n) => [n.proc.pid, ...n.workerPids])],
        playPorts: setup.playOn.map((i) => nodes[i].port),
        probeUrl: setup.workers > 1 ? `http://127.0.0.1:${origin.httpPort}/api/connections` : undefined,
        protocol: "rtmp",
      },
      cores,
    );
    const exited = nodes.find((n) => n.proc.exitCode !== null);
    if (exited !== undefined) throw new Error(`node ${nodes.indexOf(exited)} exited with code ${exited.proc.exitCode} during the run`);
    const peakRss = nodes.flatMap((n) => [n.proc.pid, ...n.workerPids]).reduce((sum, pid) => sum + peakRssMiB(pid), 0);
    const run: ClusterRun = {
      target: { ...target, label: `${target.label} [${setup.name}]` },
      request,
      result,
      cores,
      peakRssMiB: peakRss,
      setup,
      processes: processNames(nodes),
    };
    if (setup.workers > 1) run.playersByWorker = playersByWorker(result.probe, setup.workers);
    return run;
  } catch (err) {
    const logs = logPaths.filter((p) => existsSync(p)).map((p, i) => `node ${i}:\n${readFileSync(p, "utf8").slice(-2000)}`);
    const load = `${request.streams}x${request.playersPerStream} ${cores}`;
    throw new Error(`${target.label} [${setup.name}], ${load}: ${(err as Error).message}\nserver logs:\n${logs.join("\n")}`);
  } finally {
    // A supervisor killed before its workers stopped leaves none behind: a worker stops when its channel closes.
    await Promise.all(nodes.map((node) => stop(node.proc, STOP_GRACE_MS)));
    removeScratch(dir);
  }
}
