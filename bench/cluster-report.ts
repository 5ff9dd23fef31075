/**
 * The cluster shapes' figures against their goals (issue 17), from their rows (cluster-shapes.ts): per cores
 * and rtmp-server checkout, the latency one pull hop adds and the origin's CPU for a pulled stream, workers: N
 * against workers: 1 (CPU per GB, the busiest worker's share, players per worker), and three nodes against
 * one. With --repeat, medians over the runs. The rows themselves are in their own load table.
 */
import { median } from "./audience.ts";
import type { ClusterRun } from "./cluster-runs.ts";
import { type ClusterRow, PULL_SETUPS } from "./cluster-shapes.ts";
import type { LoadResult } from "./load.ts";
import { num, table } from "./report.ts";

/** Goals: with N workers, CPU per GB at most this many times one worker's, no worker above this share. */
const WORKERS_CPU_RATIO_GOAL = 1.2;
const BUSIEST_WORKER_GOAL = 0.6;

const cpuPerGB = (r: LoadResult) => r.serverCpuSeconds / (r.bytes / 1e9);
const medianOf = (runs: ClusterRun[], of: (run: ClusterRun) => number) => median(runs.map(of));
const met = (ok: boolean | null) => (ok === null ? "-" : ok ? "yes" : "**no**");
const pct = (share: number) => `${num(100 * share, 0)}%`;
const signed = (x: number) => `${x >= 0 ? "+" : ""}${num(x, 1)}`;

/** A process's CPU over the run's window, by name ("supervisor", "worker 0", "node 1 server"...). */
function cpuOf(run: ClusterRun, test: (name: string) => boolean): number[] {
  return run.processes.flatMap((name, i) => (test(name) ? [run.result.processCpuSeconds?.[i] ?? NaN] : []));
}

/** The busiest worker's share of the whole server's CPU. */
function busiestShare(run: ClusterRun): number {
  return Math.max(...cpuOf(run, (name) => name.startsWith("worker"))) / run.result.serverCpuSeconds;
}

/** The players of the `i`th play port: p50 and p99 latency. */
function portLatency(run: ClusterRun, i: number, p: "p50" | "p99"): number {
  return run.result.byPort?.[i]?.latencyMs?.[p] ?? NaN;
}

/** One checkout's runs on one cores setting. */
function figureRows(cores: string, rows: ClusterRow[]): string[][] {
  const out: string[][] = [];
  const row = (figure: string, runs: ClusterRun[], measured: string, goal: string, ok: boolean | null) =>
    out.push([figure, cores, runs[0]?.target.label.replace(/ \[.*\]$/, "") ?? "-", String(runs.length), measured, goal, met(ok)]);
  const runsOf = (shape: ClusterRow["shape"], load: string | null, setup: string) =>
    rows.filter((r) => r.shape === shape && (load === null || r.load === load) && r.run.setup.name === setup).map((r) => r.run);

  const hop = runsOf("pull", null, PULL_SETUPS.hop.name);
  if (hop.length > 0) {
    const [o50, o99, e50, e99] = [[0, "p50"], [0, "p99"], [1, "p50"], [1, "p99"]].map(([i, p]) =>
      medianOf(hop, (run) => portLatency(run, i as number, p as "p50" | "p99")),
    );
    const players = hop[0].request.playersPerStream / 2;
    const measured = `${num(o50, 1)} / ${num(o99, 1)} -> ${num(e50, 1)} / ${num(e99, 1)} ms (${signed(e50 - o50)} / ${signed(e99 - o99)})`;
    row(`pull hop, p50 / p99: ${players} players on the origin -> ${players} on the edge`, hop, measured, "say", null);
  }
  const pulled = runsOf("pull", null, PULL_SETUPS.pulled.name);
  const player = runsOf("pull", null, PULL_SETUPS.player.name);
  if (pulled.length > 0 && player.length > 0) {
    const originShare = (run: ClusterRun) => (cpuOf(run, (name) => name.startsWith("node 0"))[0] ?? NaN) / run.result.windowSeconds;
    const [a, b] = [medianOf(pulled, originShare), medianOf(player, originShare)];
    row("origin CPU: 1 pulled stream / 1 RTMP player", pulled, `${num(100 * a, 2)}% / ${num(100 * b, 2)}% of a core = ${num(a / b, 2)}x`, "say", null);
  }

  for (const load of new Set(rows.filter((r) => r.shape === "workers").map((r) => r.load))) {
    const setups = [...new Set(rows.filter((r) => r.shape === "workers" && r.load === load).map((r) => r.run.setup))];
    const one = runsOf("workers", load, "workers: 1");
    for (const setup of setups.filter((s) => s.workers > 1)) {
      const many = runsOf("workers", load, setup.name);
      const [n, base] = [medianOf(many, (run) => cpuPerGB(run.result)), medianOf(one, (run) => cpuPerGB(run.result))];
      const ratio = n / base;
      const what = `${load}, workers: ${setup.workers} / 1`;
      row(`${what}: whole-server CPU s/GB`, many, `${num(n, 2)} / ${num(base, 2)} = ${num(ratio, 2)}x`, `<= ${WORKERS_CPU_RATIO_GOAL}x`, Number.isFinite(ratio) ? ratio <= WORKERS_CPU_RATIO_GOAL : null);
      const busiest = medianOf(many, busiestShare);
      const last = many.at(-1)!;
      const each = cpuOf(last, (name) => name.startsWith("worker")).map((s) => pct(s / last.result.serverCpuSeconds));
      const supervisor = pct((cpuOf(last, (name) => name === "supervisor")[0] ?? NaN) / last.result.serverCpuSeconds);
      const shares = `${pct(busiest)} (last run: workers ${each.join(" / ")}, supervisor ${supervisor})`;
      row(`${load}, workers: ${setup.workers}: busiest worker's share of the server's CPU`, many, shares, `<= ${pct(BUSIEST_WORKER_GOAL)}`, Number.isFinite(busiest) ? busiest <= BUSIEST_WORKER_GOAL : null);
      const players = last.playersByWorker ?? [];
      row(`${load}, workers: ${setup.workers}: RTMP players per worker (internal pulls too)`, many, `last run: ${players.join(" / ")}`, "every worker", players.length > 0 && players.every((n) => n > 0));
    }
  }

  for (const load of new Set(rows.filter((r) => r.shape === "cluster3").map((r) => r.load))) {
    const [three, one] = [runsOf("cluster3", load, "3 nodes"), runsOf("cluster3", load, "1 node")];
    if (three.length === 0 || one.length === 0) continue;
    const [a, b] = [medianOf(three, (run) => cpuPerGB(run.result)), medianOf(one, (run) => cpuPerGB(run.result))];
    const measured = `${num(a, 2)} / ${num(b, 2)} = ${num(a / b, 2)}x (the pulls: ${pct(1 - b / a)} of the 3 nodes' CPU)`;
    row(`${load}, 3 nodes / 1 node: total CPU s/GB`, three, measured, "say", null);
  }
  return out;
}

/** The figures of every cores setting and checkout the cluster shapes ran; "" when none ran. */
export function clusterTable(rows: ClusterRow[]): string {
  const cells: string[][] = [];
  for (const cores of new Set(rows.map((row) => row.run.cores))) {
    const here = rows.filter((row) => row.run.cores === cores);
    for (const root of new Set(here.map((row) => row.run.target.root))) {
      cells.push(...figureRows(cores, here.filter((row) => row.run.target.root === root)));
    }
  }
  if (cells.length === 0) return "";
  return table(["cluster figure", "cores", "server", "runs", "measured", "goal", "met"], cells);
}

export const CLUSTER_LEGEND = [
  "- cluster rows: the label says the setup; the publishers publish to the first node (the origin), the players",
  "  play from the nodes named in turn; edges pull over loopback with cluster.origins (no Redis); pinned, every",
  "  server process (nodes, supervisor, workers) shares CPU 0. Server CPU sums every process from /proc",
  "- pull hop: one run, the same publisher, players alternating between the origin and the edge; latency per node",
  "- origin CPU: the origin's own CPU over the window with 1 player on the edge (its pull is the origin's only",
  "  player) against 1 player on the origin",
  "- workers: supervisor + workers; busiest = the worker with most CPU over the window / all the processes' CPU;",
  "  players per worker from GET /api/connections at the window's end (an internal pull is a player of its owner)",
  "- 3 nodes: an origin and two edges, the players spread across the three, against one node with them all",
].join("\n");
