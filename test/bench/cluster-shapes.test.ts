import { describe, expect, it } from "bun:test";
import { clusterTable } from "../../bench/cluster-report.ts";
import { type ClusterRow, PULL_SETUPS, runClusterShapes } from "../../bench/cluster-shapes.ts";
import { withCleanupOnExit } from "../../bench/harness.ts";
import { ROOT, rtmpServerTarget } from "../../bench/servers.ts";
import type { Plan } from "../../bench/shapes.ts";

/** Every shape at its smallest: 1 s windows, a few players, real server processes on loopback. */
const plan: Plan = {
  targets: [rtmpServerTarget(ROOT)],
  seconds: 1,
  publisher: "ffmpeg",
  fanoutPlayers: [4],
  publishers: { streams: 2, players: 2 },
  repeat: 1,
  cores: ["free"],
};

/** The "measured" cell of the figure row whose name contains `figure`. */
function measured(table: string, figure: string): string {
  const line = table.split("\n").find((l) => l.includes(figure));
  expect(line, `${figure} in\n${table}`).toBeDefined();
  return line!.split("|")[5].trim();
}

describe("the cluster shapes", () => {
  it("run pull, workers and cluster3 on real nodes and print every figure", async () => {
    const rows: ClusterRow[] = await withCleanupOnExit(() => runClusterShapes(plan, ["pull", "workers", "cluster3"], 2));
    for (const { run } of rows) {
      expect(run.result.errors).toEqual([]);
      expect(run.result.playing).toBe(run.result.players);
      expect(run.result.received).toEqual(run.result.expected);
      // Every process of the server was read: nodes, or the supervisor and its workers.
      expect(run.result.processCpuSeconds?.length).toBe(run.processes.length);
    }
    expect(rows.map((r) => `${r.shape} ${r.run.target.label.replace(/^.*\[/, "[")} ${r.load}`)).toEqual([
      `pull [${PULL_SETUPS.hop.name}] hop`,
      `pull [${PULL_SETUPS.pulled.name}] one`,
      `pull [${PULL_SETUPS.player.name}] one`,
      "workers [workers: 1] 1x4",
      "workers [workers: 2] 1x4",
      "workers [workers: 1] 2x2",
      "workers [workers: 2] 2x2",
      "cluster3 [1 node] 1x4",
      "cluster3 [3 nodes] 1x4",
      "cluster3 [1 node] 2x2",
      "cluster3 [3 nodes] 2x2",
    ]);
    const hop = rows[0].run.result.byPort!;
    expect(hop.map((p) => p.playing)).toEqual([4, 4]);
    expect(rows[4].run.processes).toEqual(["supervisor", "worker 0", "worker 1"]);
    expect(rows[4].run.playersByWorker?.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4);
    expect(rows[8].run.processes).toEqual(["node 0 server", "node 1 server", "node 2 server"]);

    const table = clusterTable(rows);
    const number = /\d+\.\d+/;
    expect(measured(table, "pull hop, p50 / p99: 4 players on the origin -> 4 on the edge")).toMatch(/^[\d.]+ \/ [\d.]+ -> [\d.]+ \/ [\d.]+ ms/);
    expect(measured(table, "origin CPU: 1 pulled stream / 1 RTMP player")).toMatch(number);
    for (const load of ["1x4", "2x2"]) {
      expect(measured(table, `${load}, workers: 2 / 1: whole-server CPU s/GB`)).toMatch(/= [\d.]+x$/);
      expect(measured(table, `${load}, workers: 2: busiest worker's share`)).toMatch(/^\d+% \(last run: workers \d+% \/ \d+%, supervisor \d+%\)$/);
      expect(measured(table, `${load}, workers: 2: RTMP players per worker`)).toMatch(/^last run: \d+ \/ \d+$/);
      expect(measured(table, `${load}, 3 nodes / 1 node: total CPU s/GB`)).toMatch(/= [\d.]+x \(the pulls: -?\d+% of the 3 nodes' CPU\)$/);
    }
  }, 180_000);
});
