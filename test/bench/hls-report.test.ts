import { describe, expect, it } from "bun:test";
import type { LoadRun } from "../../bench/harness.ts";
import { hlsTable } from "../../bench/hls-report.ts";
import type { LoadResult } from "../../bench/load.ts";
import { nginxHlsTarget, type RtmpServerTarget, type ServerTarget } from "../../bench/servers.ts";
import type { LoadRow } from "../../bench/shapes.ts";

const plain: RtmpServerTarget = {
  kind: "rtmp-server", root: "/r", label: "main@abc", outputs: [], protocol: "rtmp", http: true, baseline: false,
};
const over = (protocol: RtmpServerTarget["protocol"]): RtmpServerTarget => ({ ...plain, protocol, label: `main@abc (${protocol})` });

/** A run of `shape` on `target`: 10 s, `cpu` server seconds, `gb` delivered. */
function row(shape: LoadRow["shape"], target: ServerTarget, players: number, cpu: number, gb: number, change: Partial<LoadResult> = {}): LoadRow {
  const result: LoadResult = {
    players, playing: players, windowSeconds: 10, received: [], expected: [], bytes: gb * 1e9, serverCpuSeconds: cpu,
    serverThreads: [], clientCpuSeconds: 1, otherCpuSeconds: 0, latencyMs: null, firstFrameMs: 5, errors: [], ...change,
  };
  const request = { streams: shape === "hls muxers" ? 20 : 1, playersPerStream: players, seconds: 10, publisher: "ffmpeg" as const };
  return { shape, run: { target, request, result, cores: "pinned", peakRssMiB: 50 } satisfies LoadRun };
}

/** The table's data rows as cells, without the header and separator. */
const cells = (rows: LoadRow[]) => hlsTable(rows).split("\n").slice(2).map((line) => line.split("|").slice(1, -1).map((c) => c.trim()));

describe("hlsTable", () => {
  it("sets each figure of the HLS shape against its goal", () => {
    const rows = [
      row("hls fanout", plain, 200, 2, 2),
      row("hls fanout", over("ll-hls"), 200, 2.8, 2, { latencyMs: { p50: 120, p99: 260, max: 400 } }),
      row("hls muxers", plain, 0, 1, 0),
      row("hls muxers", over("ll-hls"), 1, 2.4, 0.1, { hls: { firstPlaylistMs: 3.25, muxers: 20, windowBytes: 20 * 2.5e6 } }),
      row("hls plain", over("hls"), 200, 1, 2),
      row("hls plain", nginxHlsTarget(), 200, 0.5, 2),
    ];
    expect(cells(rows)).toEqual([
      ["LL-HLS / RTMP server CPU per GB", "pinned", "main@abc (ll-hls)", "1", "1.40 / 1.00 s/GB = 1.40x", "<= 1.5x", "yes"],
      ["frame -> LL-HLS viewer p50 / p99", "pinned", "main@abc (ll-hls)", "1", "120 / 260 ms", "<= 300 / 500 ms", "yes"],
      // (0.24 - 0.10) of a core over 20 streams.
      ["HLS muxer + 1 viewer, CPU per stream", "pinned", "main@abc (ll-hls)", "1", "0.70% of a core", "< 1%", "yes"],
      ["first playlist with a segment (median, 20 fresh muxers)", "pinned", "main@abc (ll-hls)", "1", "3.3 ms", "< 100 ms", "yes"],
      ["window in memory per muxer", "pinned", "main@abc (ll-hls)", "1", "2.50 MB", "say how many", "-"],
      ["plain HLS server CPU per GB", "pinned", "main@abc (hls)", "1", "0.50 / nginx-rtmp (hls) 0.25 s/GB", "side by side", "-"],
    ]);
  });

  it("flags a missed goal, and prints nothing without HLS rows", () => {
    const rows = [
      row("hls fanout", plain, 200, 2, 2),
      row("hls fanout", over("ll-hls"), 200, 4, 2, { latencyMs: { p50: 120, p99: 600, max: 900 } }),
    ];
    expect(cells(rows).map((c) => c.at(-1))).toEqual(["**no**", "**no**"]);
    expect(hlsTable([{ ...row("hls fanout", plain, 1, 1, 1), shape: "fanout" }])).toBe("");
  });
});
