/**
 * The shapes of load the end-to-end benchmark measures, each as the loads it runs on every server: fan-out
 * (one publisher, N players), publishers (P publishers with K players each) and churn (connections that come
 * and go beside 10 steady players, with the same 10 players alone for comparison). Saturation is in
 * saturation.ts, HLS in hls-shapes.ts, the cluster shapes in cluster-shapes.ts. Every load starts a fresh server.
 */
import type { PublisherKind } from "./feeds.ts";
import { type Cores, type LoadRequest, type LoadRun, runLoadOn } from "./harness.ts";
import type { ServerTarget } from "./servers.ts";

export const SHAPES = ["fanout", "publishers", "churn", "saturation", "hls", "pull", "workers", "cluster3"] as const;
export type ShapeName = (typeof SHAPES)[number];
/** What a run without --shape measures. */
export const DEFAULT_SHAPES: ShapeName[] = ["fanout", "publishers", "churn"];

export interface Plan {
  targets: ServerTarget[];
  /** Measured window of the fan-out and publishers loads, seconds. */
  seconds: number;
  publisher: PublisherKind;
  /** Real FFmpeg publishers: the FLV file they loop. */
  source?: string;
  /** Fan-out player counts. */
  fanoutPlayers: number[];
  publishers: { streams: number; players: number };
  /** Runs of each load per target, the targets taking turns (so that a noisy minute hits all of them). */
  repeat: number;
  /** Every load runs in each of these, in turn. */
  cores: Cores[];
}

export interface LoadRow {
  /** The HLS shape's loads (hls-shapes.ts) and the cluster shapes' (cluster-shapes.ts) are rows like the others. */
  shape: "fanout" | "publishers" | "hls fanout" | "hls muxers" | "hls plain" | "pull" | "workers" | "cluster3";
  run: LoadRun;
}

export interface ChurnRow {
  churn: LoadRun;
  /** The steady players alone, same timeline, no churn. */
  alone: LoadRun;
}

export const CHURN = { connections: 2000, seconds: 20, afterSeconds: 10, steadyPlayers: 10 } as const;

/** Prints a progress line on stderr, so stdout holds only the tables. */
export function progress(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

/** Each of the plan's ways to place the processes, and in each `targets` in turn, plan.repeat times over. */
export function rounds(plan: Plan, targets = plan.targets): { target: ServerTarget; cores: Cores }[] {
  return plan.cores.flatMap((cores) =>
    Array.from({ length: plan.repeat }, () => targets.map((target) => ({ target, cores }))).flat(),
  );
}

export async function timed(what: string, target: ServerTarget, request: LoadRequest, cores: Cores): Promise<LoadRun> {
  const started = performance.now();
  const run = await runLoadOn(target, request, cores);
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  progress(`${what} on ${target.label}, ${cores}: ${seconds} s${run.result.errors.length > 0 ? " (with errors)" : ""}`);
  return run;
}

/** Every load of the fan-out and publishers shapes, server by server (plan.repeat rounds) within each load size. */
export async function runLoadShapes(plan: Plan, shapes: ShapeName[]): Promise<LoadRow[]> {
  const loads: { shape: LoadRow["shape"]; streams: number; players: number }[] = [];
  if (shapes.includes("fanout")) for (const n of plan.fanoutPlayers) loads.push({ shape: "fanout", streams: 1, players: n });
  if (shapes.includes("publishers")) loads.push({ shape: "publishers", ...plan.publishers });
  const rows: LoadRow[] = [];
  for (const load of loads) {
    for (const { target, cores } of rounds(plan)) {
      const request = {
        streams: load.streams,
        playersPerStream: load.players,
        seconds: plan.seconds,
        publisher: plan.publisher,
        source: plan.source,
      };
      const what = `${load.shape} ${load.streams}x${load.players}`;
      rows.push({ shape: load.shape, run: await timed(what, target, request, cores) });
    }
  }
  return rows;
}

export async function runChurn(plan: Plan): Promise<ChurnRow[]> {
  const rows: ChurnRow[] = [];
  for (const { target, cores } of rounds(plan)) {
    const request = (connections: number): LoadRequest => ({
      streams: 1,
      playersPerStream: CHURN.steadyPlayers,
      seconds: CHURN.seconds,
      publisher: plan.publisher,
      source: plan.source,
      churn: { connections, afterSeconds: CHURN.afterSeconds },
    });
    const churn = await timed(`churn ${CHURN.connections} connections`, target, request(CHURN.connections), cores);
    const alone = await timed("churn comparison, steady players alone", target, request(0), cores);
    rows.push({ churn, alone });
  }
  return rows;
}
