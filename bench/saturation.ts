/**
 * Saturation: the most players of one stream, and the most one-player streams, a server holds with p99
 * latency at most 50 ms and no loss. A stepped search on fresh servers, ~10 s per step: doubling until a step
 * fails, then halving the gap between the last pass and the first failure. A failed step is run once more
 * before it counts, so that one hiccup of a shared machine does not end a search.
 */
import { type Cores, type LoadRun, runLoadOn } from "./harness.ts";
import { lostMessages } from "./load.ts";
import type { Plan } from "./shapes.ts";
import { progress } from "./shapes.ts";
import type { ServerTarget } from "./servers.ts";

export type SaturationMode = "players" | "streams";

export interface SaturationStep {
  n: number;
  /** Why the step failed, or null if it held. */
  failure: string | null;
  run: LoadRun;
}

export interface SaturationRow {
  target: ServerTarget;
  cores: Cores;
  mode: SaturationMode;
  /** The largest step that held, or null if even the first failed. */
  held: SaturationStep | null;
  steps: SaturationStep[];
}

export const MAX_P99_MS = 50;
const STEP_SECONDS = 10;
const START: Record<SaturationMode, number> = { players: 50, streams: 10 };
/** Past this the clients' descriptors (ulimit) and one client core run out long before any server does. */
const LIMIT: Record<SaturationMode, number> = { players: 6400, streams: 1280 };
const MAX_STEPS = 14;
/** Runs of a step before it counts as failed. */
const ATTEMPTS = 2;
/** The fine search stops when the gap is this fraction of the figure held. */
const RESOLUTION = 1 / 8;

/** Why a run does not count as held, or null. */
function failure(run: LoadRun): string | null {
  const r = run.result;
  if (r.playing < r.players) return `${r.players - r.playing} of ${r.players} players not playing`;
  const lost = lostMessages(r);
  if (lost > 0) return `${lost} messages lost`;
  if (r.latencyMs !== null && !(r.latencyMs.p99 <= MAX_P99_MS)) return `p99 ${r.latencyMs.p99.toFixed(1)} ms`;
  return null;
}

async function step(plan: Plan, target: ServerTarget, cores: Cores, mode: SaturationMode, n: number): Promise<SaturationStep> {
  for (let attempt = 1; ; attempt++) {
    const run = await runLoadOn(target, {
      streams: mode === "players" ? 1 : n,
      playersPerStream: mode === "players" ? n : 1,
      seconds: STEP_SECONDS,
      publisher: plan.publisher,
      source: plan.source,
    }, cores);
    const result = { n, failure: failure(run), run };
    progress(`saturation ${mode} ${n} on ${target.label}, ${cores}, attempt ${attempt}: ${result.failure ?? "held"}`);
    if (result.failure === null || attempt === ATTEMPTS) return result;
  }
}

export async function searchSaturation(
  plan: Plan,
  target: ServerTarget,
  cores: Cores,
  mode: SaturationMode,
): Promise<SaturationRow> {
  const steps: SaturationStep[] = [];
  let held: SaturationStep | null = null;
  let failedAt = Infinity;
  for (let n = START[mode]; n <= LIMIT[mode] && steps.length < MAX_STEPS; n *= 2) {
    const s = await step(plan, target, cores, mode, n);
    steps.push(s);
    if (s.failure !== null) {
      failedAt = n;
      break;
    }
    held = s;
  }
  while (held !== null && failedAt !== Infinity && steps.length < MAX_STEPS) {
    if (failedAt - held.n <= Math.max(1, held.n * RESOLUTION)) break;
    const s = await step(plan, target, cores, mode, Math.round((held.n + failedAt) / 2));
    steps.push(s);
    if (s.failure === null) held = s;
    else failedAt = s.n;
  }
  return { target, cores, mode, held, steps };
}

export async function runSaturation(plan: Plan): Promise<SaturationRow[]> {
  const rows: SaturationRow[] = [];
  for (const mode of ["players", "streams"] as const) {
    for (const cores of plan.cores) {
      for (const target of plan.targets) rows.push(await searchSaturation(plan, target, cores, mode));
    }
  }
  return rows;
}
