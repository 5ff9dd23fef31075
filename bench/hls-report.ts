/**
 * The HLS shape's figures against their goals (issue 16), from its rows (hls-shapes.ts): per cores and
 * rtmp-server checkout, LL-HLS CPU per GB against RTMP's, the LL-HLS frame-to-viewer latency, the time to
 * the first playlist of a fresh muxer, a muxer's CPU and memory, and plain HLS against nginx-rtmp's. With
 * --repeat, medians over the runs. The rows themselves are in the load table.
 */
import { median } from "./audience.ts";
import type { LoadRun } from "./harness.ts";
import { HLS_MUXER_STREAMS } from "./hls-shapes.ts";
import type { LoadResult } from "./load.ts";
import { num, table } from "./report.ts";
import { HLS, playsOver } from "./servers.ts";
import type { LoadRow } from "./shapes.ts";

/** Goals: LL-HLS CPU per GB at most this many times RTMP's; latency p50 and p99 in part targets, plus a margin. */
const CPU_RATIO_GOAL = 1.5;
const LATENCY_MARGIN_MS = 100;
const FIRST_PLAYLIST_GOAL_MS = 100;
/** Of one core, per 2.6 Mbit/s stream. */
const MUXER_CPU_GOAL = 0.01;

const cpuPerGB = (r: LoadResult) => r.serverCpuSeconds / (r.bytes / 1e9);
const cpuShare = (r: LoadResult) => r.serverCpuSeconds / r.windowSeconds;
const medianOf = (runs: LoadRun[], of: (r: LoadResult) => number) => median(runs.map((run) => of(run.result)));
const met = (ok: boolean | null) => (ok === null ? "-" : ok ? "yes" : "**no**");
const label = (runs: LoadRun[]) => runs[0]?.target.label ?? "-";

/** One checkout's runs, or nginx-rtmp's, on one cores setting. */
function figureRows(cores: string, runs: LoadRow[], nginx: LoadRun[]): string[][] {
  const of = (shape: LoadRow["shape"], test: (run: LoadRun) => boolean) =>
    runs.filter((row) => row.shape === shape && test(row.run)).map((row) => row.run);
  const rtmp = of("hls fanout", (run) => playsOver(run.target) === "rtmp");
  const llHls = of("hls fanout", (run) => playsOver(run.target) === "ll-hls");
  const without = of("hls muxers", (run) => run.request.playersPerStream === 0);
  const withViewer = of("hls muxers", (run) => run.request.playersPerStream === 1);
  const plain = of("hls plain", () => true);
  const rows: string[][] = [];
  const row = (figure: string, runsOf: LoadRun[], measured: string, goal: string, ok: boolean | null) =>
    rows.push([figure, cores, label(runsOf), String(runsOf.length), measured, goal, met(ok)]);

  if (rtmp.length > 0 && llHls.length > 0) {
    const [ll, base] = [medianOf(llHls, cpuPerGB), medianOf(rtmp, cpuPerGB)];
    const ratio = ll / base;
    row("LL-HLS / RTMP server CPU per GB", llHls, `${num(ll, 2)} / ${num(base, 2)} s/GB = ${num(ratio, 2)}x`, `<= ${CPU_RATIO_GOAL}x`, Number.isFinite(ratio) ? ratio <= CPU_RATIO_GOAL : null);
    const p50 = medianOf(llHls, (r) => r.latencyMs?.p50 ?? NaN);
    const p99 = medianOf(llHls, (r) => r.latencyMs?.p99 ?? NaN);
    const [goal50, goal99] = [HLS.partMs + LATENCY_MARGIN_MS, 2 * HLS.partMs + LATENCY_MARGIN_MS];
    const ok = Number.isFinite(p99) ? p50 <= goal50 && p99 <= goal99 : null;
    row("frame -> LL-HLS viewer p50 / p99", llHls, `${num(p50, 0)} / ${num(p99, 0)} ms`, `<= ${goal50} / ${goal99} ms`, ok);
  }
  if (without.length > 0 && withViewer.length > 0) {
    const perMuxer = (medianOf(withViewer, cpuShare) - medianOf(without, cpuShare)) / HLS_MUXER_STREAMS;
    row("HLS muxer + 1 viewer, CPU per stream", withViewer, `${num(100 * perMuxer, 2)}% of a core`, `< ${100 * MUXER_CPU_GOAL}%`, perMuxer < MUXER_CPU_GOAL);
  }
  if (withViewer.length > 0) {
    const first = medianOf(withViewer, (r) => r.hls?.firstPlaylistMs ?? NaN);
    const fresh = `${HLS_MUXER_STREAMS * withViewer.length} fresh muxers`;
    row(`first playlist with a segment (median, ${fresh})`, withViewer, `${num(first, 1)} ms`, `< ${FIRST_PLAYLIST_GOAL_MS} ms`, first < FIRST_PLAYLIST_GOAL_MS);
    const bytes = medianOf(withViewer, (r) => (r.hls?.windowBytes ?? NaN) / (r.hls?.muxers ?? NaN));
    row("window in memory per muxer", withViewer, `${num(bytes / 1e6, 2)} MB`, "say how many", null);
  }
  if (plain.length > 0) {
    const theirs = nginx.length > 0 ? ` / ${label(nginx)} ${num(medianOf(nginx, cpuPerGB), 2)}` : "";
    row("plain HLS server CPU per GB", plain, `${num(medianOf(plain, cpuPerGB), 2)}${theirs} s/GB`, "side by side", null);
  }
  return rows;
}

/** The figures of every cores setting and checkout the HLS shape ran; "" when it did not run. */
export function hlsTable(rows: LoadRow[]): string {
  const hls = rows.filter((row) => row.shape.startsWith("hls "));
  const cells: string[][] = [];
  for (const cores of new Set(hls.map((row) => row.run.cores))) {
    const here = hls.filter((row) => row.run.cores === cores);
    const nginx = here.filter((row) => row.run.target.kind === "nginx").map((row) => row.run);
    const roots = new Set(here.flatMap(({ run: { target } }) => (target.kind === "rtmp-server" ? [target.root] : [])));
    for (const root of roots) {
      const mine = here.filter(({ run: { target } }) => target.kind === "rtmp-server" && target.root === root);
      cells.push(...figureRows(cores, mine, nginx));
    }
  }
  if (cells.length === 0) return "";
  return table(["HLS figure", "cores", "server", "runs", "measured", "goal", "met"], cells);
}

export const HLS_LEGEND = [
  `- HLS: both servers segment at ${HLS.segmentMs} ms (a segment starts on a keyframe), rtmp-server's parts ${HLS.partMs} ms, window`,
  `  ${HLS.window} segments; nginx-rtmp: hls_fragment ${HLS.segmentMs}ms, hls_playlist_length ${HLS.segmentMs * HLS.window}ms, hls_nested, its TS files served by`,
  "  its own http block (sendfile). Each viewer has one keep-alive connection (Bun's fetch keeps 64 idle sockets",
  "  per process: more viewers would reconnect for most requests); its bytes are everything off its socket",
  "- (ll-hls) viewers: the playlist, then over and over a blocking reload (_HLS_msn/_HLS_part) for the part after",
  "  their last and the parts it lists (hls.js's way), from the last independent part; (hls) viewers: the playlist",
  "  every half target duration and the new segments, from the last one",
  "- LL-HLS latency: publisher send -> the viewer has the whole part holding the frame (the stamps are in the fMP4",
  "  samples), over every frame of the window",
  `- hls muxers: ${HLS_MUXER_STREAMS} streams with no player, then with one LL-HLS viewer each (${HLS_MUXER_STREAMS} fresh muxers, each started`,
  "  from the GOP cache); CPU per stream = the difference of server CPU shares / streams (the muxer and its",
  "  viewer's requests); first playlist = first request -> a playlist listing a segment, median over the viewers;",
  "  window = rtmp_hls_window_bytes / rtmp_hls_muxers at the end, the load lasting until a muxer holds all it keeps",
  "  (the listed segments, the 3 retired ones still served, the open one: 2 s GOPs, ~0.65 MB each)",
  "- hls plain: real FFmpeg publishers (720p, ~2.6 Mbit/s, a keyframe a second), whose frames carry no stamps: no",
  "  latency, and frames counted by decode time (nginx-rtmp's audio by PES packet, several AAC frames each)",
].join("\n");
