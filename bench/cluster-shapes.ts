/**
 * The cluster shapes (issue 17), each on every plain rtmp-server target of the plan, the setups of one load
 * taking turns (cluster-runs.ts runs them):
 * - pull: one stream on an origin, an edge pulling it for its players: players on both in the same run (the
 *   latency the hop adds), then one player on the edge (the origin serves one pulled stream) against one
 *   player on the origin (the origin serves one RTMP player);
 * - workers: the fan-out and publishers loads on `workers: 1` and `workers: N` (CPU per GB of the whole
 *   server, each worker's share of it, the players on each worker);
 * - cluster3: the same loads on one node, and on three (an origin and two edges) with the players spread
 *   across the three (what the pulls cost).
 */
import { type ClusterRun, runClusterLoad, type Setup } from "./cluster-runs.ts";
import type { LoadRequest } from "./harness.ts";
import type { RtmpServerTarget, ServerTarget } from "./servers.ts";
import { type LoadRow, type Plan, progress, rounds, type ShapeName } from "./shapes.ts";

export type ClusterShape = Extract<ShapeName, "pull" | "workers" | "cluster3">;
export const CLUSTER_SHAPES: readonly ClusterShape[] = ["pull", "workers", "cluster3"];

export interface ClusterRow extends LoadRow {
  shape: ClusterShape;
  run: ClusterRun;
  /** Which of the shape's loads: "hop", "pulled", "player" (pull), or the load's size (workers, cluster3). */
  load: string;
}

/** Default `workers` of the workers shape, set against `workers: 1`. */
export const DEFAULT_WORKERS = 2;

export const PULL_SETUPS = {
  hop: { name: "origin+edge, players on both", nodes: 2, workers: 1, playOn: [0, 1] },
  pulled: { name: "origin+edge, player on the edge", nodes: 2, workers: 1, playOn: [1] },
  player: { name: "origin+edge, player on the origin", nodes: 2, workers: 1, playOn: [0] },
} as const satisfies Record<string, Setup>;

export function workersSetup(workers: number): Setup {
  return { name: `workers: ${workers}`, nodes: 1, workers, playOn: [0] };
}

export const ONE_NODE: Setup = { name: "1 node", nodes: 1, workers: 1, playOn: [0] };
export const THREE_NODES: Setup = { name: "3 nodes", nodes: 3, workers: 1, playOn: [0, 1, 2] };

interface ClusterLoad {
  shape: ClusterShape;
  load: string;
  setups: Setup[];
  request: LoadRequest;
}

/** A plain target of this checkout or of --compare's: the cluster shapes make their own setups of it. */
const isPlain = (t: ServerTarget): t is RtmpServerTarget => t.kind === "rtmp-server" && t.protocol === "rtmp" && t.outputs.length === 0;

/** The loads of the named cluster shapes: the pull hop's players are the plan's first fan-out count per node. */
function clusterLoads(plan: Plan, shapes: readonly ShapeName[], workers: number): ClusterLoad[] {
  const window = { seconds: plan.seconds, publisher: plan.publisher === "real" ? "ffmpeg" : plan.publisher } as const;
  const one = (players: number): LoadRequest => ({ ...window, streams: 1, playersPerStream: players });
  // The same loads as the fan-out and publishers shapes: the most players of one stream, and P x K.
  const sizes = [one(Math.max(...plan.fanoutPlayers)), { ...window, streams: plan.publishers.streams, playersPerStream: plan.publishers.players }];
  const size = (r: LoadRequest) => `${r.streams}x${r.playersPerStream}`;
  const loads: ClusterLoad[] = [];
  if (shapes.includes("pull")) {
    loads.push(
      { shape: "pull", load: "hop", setups: [PULL_SETUPS.hop], request: one(2 * plan.fanoutPlayers[0]) },
      { shape: "pull", load: "one", setups: [PULL_SETUPS.pulled, PULL_SETUPS.player], request: one(1) },
    );
  }
  if (shapes.includes("workers")) {
    for (const request of sizes) loads.push({ shape: "workers", load: size(request), setups: [workersSetup(1), workersSetup(workers)], request });
  }
  if (shapes.includes("cluster3")) {
    for (const request of sizes) loads.push({ shape: "cluster3", load: size(request), setups: [ONE_NODE, THREE_NODES], request });
  }
  return loads;
}

/** Every load of the named cluster shapes on every plain target, plan.repeat rounds, the setups taking turns. */
export async function runClusterShapes(plan: Plan, shapes: readonly ShapeName[], workers = DEFAULT_WORKERS): Promise<ClusterRow[]> {
  const targets = plan.targets.filter(isPlain);
  const rows: ClusterRow[] = [];
  for (const { shape, load, setups, request } of clusterLoads(plan, shapes, workers)) {
    for (const { target, cores } of rounds(plan, targets)) {
      for (const setup of setups) {
        const started = performance.now();
        const run = await runClusterLoad(target as RtmpServerTarget, setup, request, cores);
        const seconds = ((performance.now() - started) / 1000).toFixed(0);
        const errors = run.result.errors.length > 0 ? " (with errors)" : "";
        progress(`${shape} ${request.streams}x${request.playersPerStream} on ${run.target.label}, ${cores}: ${seconds} s${errors}`);
        rows.push({ shape, load, run });
      }
    }
  }
  return rows;
}
