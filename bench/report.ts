/**
 * The benchmark's tables, in Markdown so that a note can paste them: one row per shape x server for the
 * fan-out and publishers loads, the churn table, the saturation table, and the legend under them.
 */
import { type LoadResult, lostMessages } from "./load.ts";
import type { LoadRun } from "./harness.ts";
import { CHURN_DEADLINE_MS, CHURN_KINDS } from "./churn.ts";
import { MAX_P99_MS, type SaturationRow } from "./saturation.ts";
import { CHURN, type ChurnRow, type LoadRow } from "./shapes.ts";

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

const num = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
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

function latency(r: LoadResult): string {
  const l = r.latencyMs;
  return l === null ? "-" : `${num(l.p50, 1)} / ${num(l.p99, 1)} / ${num(l.max, 1)}`;
}

function sortedMedian(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
}

export function loadTable(rows: LoadRow[]): string {
  const header = [
    "shape", "server", "load", "CPU s/GB", "GB out", "latency p50 / p99 / max ms", "1st frame ms",
    "peak RSS MiB", "server CPU", "client CPU", "other CPU", "msgs/player min / med / expected", "lost",
  ];
  const cells = rows.map(({ shape, run }) => {
    const r = run.result;
    const gb = r.bytes / 1e9;
    const received = [...r.received].sort((a, b) => a - b);
    return [
      shape,
      run.target.label,
      load(r, run.request.streams, run.request.playersPerStream),
      num(r.serverCpuSeconds / gb, 2),
      num(gb, 3),
      latency(r),
      num(r.firstFrameMs, 1),
      num(run.peakRssMiB, 0),
      percent(r.serverCpuSeconds, r.windowSeconds),
      percent(r.clientCpuSeconds, r.windowSeconds),
      percent(r.otherCpuSeconds, r.windowSeconds),
      `${received[0] ?? 0} / ${sortedMedian(received)} / ${sortedMedian(r.expected)}`,
      lost(r),
    ];
  });
  return table(header, cells);
}

function churnRow(label: string, what: string, run: LoadRun): string[] {
  const r = run.result;
  const m = r.rss;
  const churned = r.churn === undefined ? "-" : CHURN_KINDS.map((_, k) => `${r.churn!.ok[k]}`).join(" / ");
  const failed = r.churn === undefined ? 0 : r.churn.failed.reduce((a, b) => a + b, 0);
  return [
    label,
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
    "server", "run", "server CPU s / window s", "other CPU", "RSS MiB before -> peak -> after", "steady p99 ms",
    "steady lost",
    `done: ${CHURN_KINDS.join(" / ")}`,
  ];
  const cells = rows.flatMap(({ churn, alone }) => [
    churnRow(churn.target.label, `${CHURN.connections} churned + ${CHURN.steadyPlayers} players`, churn),
    churnRow(alone.target.label, `${CHURN.steadyPlayers} players alone`, alone),
  ]);
  return table(header, cells);
}

export function saturationTable(rows: SaturationRow[]): string {
  const header = [
    "server", "shape", "held", "server CPU", "peak RSS MiB", "p99 ms", "client CPU", "other CPU", "steps (n: result)",
  ];
  const cells = rows.map(({ target, mode, held, steps }) => {
    const r = held?.run.result;
    return [
      target.label,
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

export const LEGEND = [
  "- CPU s/GB: server utime+stime over the bytes all players received in the window",
  "- server / client / other CPU: share of one core; other = the rest of the machine (other processes, kernel",
  "  threads, hypervisor steal): much of it means the row was measured on a busy machine",
  "- latency: publisher send -> player receive, per media message ('-' with real FFmpeg publishers: no send time to read)",
  "- 1st frame: play request -> first video frame, median over players (joins spread over one GOP)",
  "- lost: window messages a player should have received and did not, over all players",
  `- churn: ${CHURN.connections} connections over ${CHURN.seconds} s beside ${CHURN.steadyPlayers} players; server CPU`,
  `  over the churn plus ${CHURN_DEADLINE_MS / 1000} s (the longest a churn connection lives);`,
  `  RSS after = ${CHURN.afterSeconds} s after the churn ends`,
  `- saturation: a step holds with every player playing, nothing lost and p99 <= ${MAX_P99_MS} ms; the clients share one`,
  "  core, so a client CPU near 100% means the clients, not the server, set the figure",
].join("\n");
