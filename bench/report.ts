/**
 * The benchmark's tables, in Markdown so that a note can paste them: one row per shape x server x cores for
 * the fan-out and publishers loads, the server's CPU by thread on them, the churn table, the saturation table,
 * each variant (and this checkout against --compare's) against the run it pairs with, what the variants'
 * outputs were checked to have done, and the legend under them.
 */
import { median } from "./audience.ts";
import { type LoadResult, lostMessages } from "./load.ts";
import type { LoadRun } from "./harness.ts";
import type { ServerTarget } from "./servers.ts";
import { CHURN_DEADLINE_MS, CHURN_KINDS } from "./churn.ts";
import { MAX_P99_MS, type SaturationRow } from "./saturation.ts";
import { CHURN, type ChurnRow, type LoadRow } from "./shapes.ts";

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

export const num = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
const percent = (part: number, whole: number) => `${num((100 * part) / whole, 0)}%`;

/** "0", or the count and share lost, flagged so that nobody misses it. */
function lost(r: LoadResult): string {
  const n = lostMessages(r);
  if (n === 0) return "0";
  const expected = r.expected.reduce((a, b) => a + b, 0);
  return `**${n} (${num((100 * n) / Math.max(1, expected), 2)}%) LOST**`;
}

function load(r: LoadResult, streams: number, players: number): string {
  const playing = r.playing < r.players ? ` **(${r.playing} playing)**` : "";
  return `${streams}x${players}${playing}`;
}

/** The label of the runs' server, flagged when any run's outputs were found broken (the notes say how). */
function server(...runs: LoadRun[]): string {
  const broken = runs.some((run) => (run.outputs?.problems.length ?? 0) > 0);
  return `${runs[0].target.label}${broken ? " **(outputs broken)**" : ""}`;
}

function latency(r: LoadResult): string {
  const l = r.latencyMs;
  return l === null ? "-" : `${num(l.p50, 1)} / ${num(l.p99, 1)} / ${num(l.max, 1)}`;
}

export function loadTable(rows: LoadRow[]): string {
  const header = [
    "shape", "server", "cores", "load", "CPU s/GB", "GB out", "latency p50 / p99 / max ms", "1st frame ms",
    "peak RSS MiB", "server CPU", "client CPU", "other CPU", "msgs/player min / med / expected", "lost",
  ];
  const cells = rows.map(({ shape, run }) => {
    const r = run.result;
    const gb = r.bytes / 1e9;
    const received = [...r.received].sort((a, b) => a - b);
    return [
      shape,
      server(run),
      run.cores,
      load(r, run.request.streams, run.request.playersPerStream),
      num(r.serverCpuSeconds / gb, 2),
      num(gb, 3),
      latency(r),
      num(r.firstFrameMs, 1),
      num(run.peakRssMiB, 0),
      percent(r.serverCpuSeconds, r.windowSeconds),
      percent(r.clientCpuSeconds, r.windowSeconds),
      percent(r.otherCpuSeconds, r.windowSeconds),
      `${received[0] ?? 0} / ${median(received)} / ${median(r.expected)}`,
      lost(r),
    ];
  });
  return table(header, cells);
}

function churnRow(what: string, run: LoadRun): string[] {
  const r = run.result;
  const m = r.rss;
  const churned = r.churn === undefined ? "-" : CHURN_KINDS.map((_, k) => `${r.churn!.ok[k]}`).join(" / ");
  const failed = r.churn === undefined ? 0 : r.churn.failed.reduce((a, b) => a + b, 0);
  return [
    server(run),
    run.cores,
    what,
    `${num(r.serverCpuSeconds, 2)} / ${num(r.windowSeconds, 1)}`,
    percent(r.otherCpuSeconds, r.windowSeconds),
    m === undefined ? "-" : `${num(m.before, 0)} -> ${num(m.peak, 0)} -> ${num(m.after, 0)}`,
    r.latencyMs === null ? "-" : num(r.latencyMs.p99, 1),
    lost(r),
    failed > 0 ? `${churned} **(${failed} failed)**` : churned,
  ];
}

export function churnTable(rows: ChurnRow[]): string {
  const header = [
    "server", "cores", "run", "server CPU s / window s", "other CPU", "RSS MiB before -> peak -> after", "steady p99 ms",
    "steady lost",
    `done: ${CHURN_KINDS.join(" / ")}`,
  ];
  const cells = rows.flatMap(({ churn, alone }) => [
    churnRow(`${CHURN.connections} churned + ${CHURN.steadyPlayers} players`, churn),
    churnRow(`${CHURN.steadyPlayers} players alone`, alone),
  ]);
  return table(header, cells);
}

export function saturationTable(rows: SaturationRow[]): string {
  const header = [
    "server", "cores", "shape", "held", "server CPU", "peak RSS MiB", "p99 ms", "client CPU", "other CPU", "steps (n: result)",
  ];
  const cells = rows.map(({ target, cores, mode, held, steps }) => {
    const r = held?.run.result;
    return [
      target.label,
      cores,
      mode === "players" ? "1 stream x N players" : "N streams x 1 player",
      held === null ? `< ${steps[0]?.n ?? "-"}` : String(held.n),
      r === undefined ? "-" : percent(r.serverCpuSeconds, r.windowSeconds),
      held === null ? "-" : num(held.run.peakRssMiB, 0),
      r?.latencyMs == null ? "-" : num(r.latencyMs.p99, 1),
      r === undefined ? "-" : percent(r.clientCpuSeconds, r.windowSeconds),
      r === undefined ? "-" : percent(r.otherCpuSeconds, r.windowSeconds),
      steps.map((s) => `${s.n}: ${s.failure ?? "held"}`).join("; "),
    ];
  });
  return table(header, cells);
}

/** A target that runs with outputs on, or with players over FLV: it pairs with another run of its server. */
const isVariant = (t: ServerTarget): boolean => t.kind === "rtmp-server" && (t.outputs.length > 0 || t.protocol !== "rtmp");

/**
 * What a variant is compared with: with outputs, the same server and players without them; with players
 * over FLV only, the plain run with RTMP players.
 */
function isBaseOf(base: ServerTarget, variant: ServerTarget): boolean {
  if (base.kind !== "rtmp-server" || variant.kind !== "rtmp-server" || base.root !== variant.root) return false;
  const protocol = variant.outputs.length > 0 ? variant.protocol : "rtmp";
  return base.outputs.length === 0 && base.protocol === protocol;
}

/** This checkout's run against the same run of the --compare checkout. */
function isBaselineOf(base: ServerTarget, run: ServerTarget): boolean {
  if (base.kind !== "rtmp-server" || run.kind !== "rtmp-server" || !base.baseline || run.baseline) return false;
  return base.protocol === run.protocol && base.outputs.join() === run.outputs.join();
}

/** Whether `run` is compared with `base`: a variant with its plain run, this checkout with --compare's. */
const pairs = (base: ServerTarget, run: ServerTarget): boolean =>
  (isVariant(run) && isBaseOf(base, run)) || isBaselineOf(base, run);

/** Runs of one load: how the table names it, and how server CPU compares on it (per GB, or in all). */
interface LoadGroup {
  what: string;
  perGB: boolean;
  runs: LoadRun[];
}

function groupsOf(loadRows: LoadRow[], churnRows: ChurnRow[]): LoadGroup[] {
  const groups = new Map<string, LoadGroup>();
  const add = (what: string, perGB: boolean, run: LoadRun) => {
    const group = groups.get(what) ?? { what, perGB, runs: [] };
    group.runs.push(run);
    groups.set(what, group);
  };
  for (const { shape, run } of loadRows) {
    add(`${shape} ${run.request.streams}x${run.request.playersPerStream} (${run.cores})`, true, run);
  }
  for (const { churn, alone } of churnRows) {
    add(`churn ${CHURN.connections} + ${CHURN.steadyPlayers} (${churn.cores})`, false, churn);
    add(`${CHURN.steadyPlayers} players alone (${alone.cores})`, false, alone);
  }
  return [...groups.values()];
}

/** The runs of one load by target, in the order they first ran. */
function byTarget(runs: LoadRun[]): LoadRun[][] {
  const targets = new Map<string, LoadRun[]>();
  for (const run of runs) targets.set(run.target.label, [...(targets.get(run.target.label) ?? []), run]);
  return [...targets.values()];
}

/**
 * A variant's runs against its base's on one load. With repeated runs, both the median and the best (lowest):
 * on the shared VMs this is measured on, a whole run now and then lands in a slow mode (2-3x the CPU per GB
 * and the latency for the same code, nginx-rtmp's too), so the best run is the code's cost and the median
 * says how often the machine was slow.
 */
function comparisonRow({ what, perGB }: LoadGroup, base: LoadRun[], variant: LoadRun[]): string[] {
  const cpuOf = ({ result: r }: LoadRun) => (perGB ? r.serverCpuSeconds / (r.bytes / 1e9) : r.serverCpuSeconds);
  const p99Of = ({ result: r }: LoadRun) => r.latencyMs?.p99 ?? NaN;
  const firstFrameOf = ({ result: r }: LoadRun) => r.firstFrameMs;
  const other = (runs: LoadRun[]) => percent(Math.max(...runs.map(({ result: r }) => r.otherCpuSeconds / r.windowSeconds)), 1);
  const change = (of: (run: LoadRun) => number, pick: (values: number[]) => number, digits: number, unit: string) => {
    const [b, v] = [pick(base.map(of)), pick(variant.map(of))];
    const delta = unit === "%" ? (100 * (v - b)) / b : v - b;
    return `${num(b, digits)} -> ${num(v, digits)} (${delta >= 0 ? "+" : ""}${num(delta, 1)}${unit === "%" ? "%" : " ms"})`;
  };
  const best = (values: number[]) => Math.min(...values);
  return [
    what,
    server(...variant),
    base[0].target.label,
    String(Math.min(base.length, variant.length)),
    change(cpuOf, median, 2, "%"),
    change(cpuOf, best, 2, "%"),
    change(p99Of, median, 1, "ms"),
    change(p99Of, best, 1, "ms"),
    change(firstFrameOf, median, 1, "ms"),
    `${other(base)} / ${other(variant)}`,
  ];
}

/** Each run against what it pairs with (pairs) on the same load and cores; "" when there are none. */
export function comparisonTable(loadRows: LoadRow[], churnRows: ChurnRow[]): string {
  const header = [
    "load", "variant", "base", "runs", "server CPU, median", "server CPU, best", "p99 ms, median", "p99 ms, best",
    "1st frame ms, median", "other CPU (highest)",
  ];
  const cells = groupsOf(loadRows, churnRows).flatMap((group) => {
    const targets = byTarget(group.runs);
    return targets.flatMap((variant) =>
      targets
        .filter((base) => pairs(base[0].target, variant[0].target))
        .map((base) => comparisonRow(group, base, variant)),
    );
  });
  return cells.length === 0 ? "" : table(header, cells);
}

/** Thread groups with a column of their own in threadsTable; the rest add up in "other". */
const THREAD_COLUMNS = 5;

/**
 * The server's CPU by group of threads on each load, cores and server: per group, the median over the runs
 * of its CPU per GB delivered and its share of one core; the groups that used most over all runs first.
 */
export function threadsTable(loadRows: LoadRow[]): string {
  const totals = new Map<string, number>();
  for (const { run } of loadRows) {
    for (const t of run.result.serverThreads) totals.set(t.name, (totals.get(t.name) ?? 0) + t.seconds);
  }
  const names = [...totals].sort((a, b) => b[1] - a[1]).map(([name]) => name);
  // An "other" column for a single group would only hide its name.
  const columns = names.length > THREAD_COLUMNS + 1 ? names.slice(0, THREAD_COLUMNS) : names;
  const rest = names.filter((name) => !columns.includes(name));
  const secondsOf = (r: LoadResult, of: string[]) =>
    r.serverThreads.filter((t) => of.includes(t.name)).reduce((n, t) => n + t.seconds, 0);
  const cell = (group: LoadRun[], of: string[]) => {
    const perGB = median(group.map(({ result: r }) => secondsOf(r, of) / (r.bytes / 1e9)));
    const share = median(group.map(({ result: r }) => secondsOf(r, of) / r.windowSeconds));
    return `${num(perGB, 2)} (${percent(share, 1)})`;
  };
  const header = ["load", "server", "runs", "server CPU s/GB", ...columns, ...(rest.length > 0 ? ["other"] : [])];
  const cells = groupsOf(loadRows, []).flatMap(({ what, runs }) =>
    byTarget(runs).map((group) => [
      what,
      server(...group),
      String(group.length),
      num(median(group.map(({ result: r }) => r.serverCpuSeconds / (r.bytes / 1e9))), 2),
      ...columns.map((name) => cell(group, [name])),
      ...(rest.length > 0 ? [cell(group, rest)] : []),
    ]),
  );
  return cells.length === 0 ? "" : table(header, cells);
}

/** What each run's outputs were checked to have done, with what was wrong in bold; "" when no run had any. */
export function outputsNotes(loadRows: LoadRow[], churnRows: ChurnRow[]): string {
  const lines = groupsOf(loadRows, churnRows).flatMap(({ what, runs }) =>
    runs.flatMap(({ target, outputs }) => {
      if (outputs === undefined) return [];
      const problems = outputs.problems.length === 0 ? "" : ` **${outputs.problems.join("; ")}**`;
      return [`- ${what} on ${target.label}: ${outputs.summary}${problems}`];
    }),
  );
  return lines.length === 0 ? "" : `outputs checked after each run:\n${lines.join("\n")}`;
}

export const VARIANTS_LEGEND = [
  "- variants: +rec records every stream (recording.enabled, files in the run's scratch directory under the OS",
  "  temp dir); +relay pushes every stream to one nginx-rtmp sink on its own port, beside the clients (pinned:",
  "  on CPU 1); +hooks sends every event to a webhook (a Bun.serve receiver, its own process beside the",
  "  clients) and to a script (`exit 0`), hooks.concurrency 10. The sink's and the receiver's CPU count as",
  "  client CPU; the scripts run beside the server (pinned: on its core) and count as server CPU",
  "- (http-flv) / (ws-flv): players play /live/NAME.flv from http.listen; latency from the same stamps (an FLV",
  "  tag's data is the RTMP payload); bytes count the HTTP head and chunk framing, not WebSocket frame headers",
  "- with variants, every rtmp-server run listens on HTTP (FLV players, /metrics for the checks), the plain ones too",
  "- goals: +rec+relay at most +15% CPU s/GB and +1 ms p99 at 50 players; +hooks within noise; (http-flv)",
  "  within 20% of RTMP CPU s/GB. Only rows of one invocation compare; a high other CPU means a busy machine",
].join("\n");

export const COMPARISON_LEGEND = [
  "- comparison: a variant against its plain run, and with --compare this checkout against the other one (base),",
  "  on the same load and cores; server CPU in s/GB (churn rows: s), base -> variant (change); with --repeat, the",
  "  median and the best run: a whole run sometimes lands in a slow mode of the VM (2-3x CPU and latency for the",
  "  same code)",
].join("\n");

export const LEGEND = [
  "- cores: pinned = the server on CPU 0, the clients and publishers on CPU 1; free = every process on every core,",
  "  as deployed: the server's threads beside the JS one (GC helpers, Bun's pool) then run in parallel with it,",
  "  and the clients compete with the server for both cores",
  "- CPU s/GB: server utime+stime over the bytes all players received in the window",
  "- server / client / other CPU: share of one core; other = the rest of the machine (other processes, kernel",
  "  threads, hypervisor steal): much of it means the row was measured on a busy machine",
  "- latency: publisher send -> player receive, per media message ('-' with real FFmpeg publishers: no send time to read)",
  "- 1st frame: play request -> first video frame, median over players (joins spread over one GOP)",
  "- threads: the server's CPU by group of threads (/proc/PID/task), median over the runs: s/GB (share of one",
  "  core); JS main runs the JavaScript, JSC GC helpers mark in parallel during a collection, Bun pool does",
  "  file and other blocking work; exited threads = threads that ended during the window",
  "- lost: window messages a player should have received and did not, over all players",
  `- churn: ${CHURN.connections} connections over ${CHURN.seconds} s beside ${CHURN.steadyPlayers} players; server CPU`,
  `  over the churn plus ${CHURN_DEADLINE_MS / 1000} s (the longest a churn connection lives);`,
  `  RSS after = ${CHURN.afterSeconds} s after the churn ends`,
  `- saturation: a step holds with every player playing, nothing lost and p99 <= ${MAX_P99_MS} ms; pinned, the clients`,
  "  share one core, so a client CPU near 100% means the clients, not the server, set the figure",
].join("\n");
