import { describe, expect, it } from "bun:test";
import type { LoadRun } from "./harness.ts";
import type { LoadResult } from "./load.ts";
import { loadTable } from "./report.ts";

function run(change: Partial<LoadResult>): LoadRun {
  const result: LoadResult = {
    players: 2,
    playing: 2,
    windowSeconds: 10,
    received: [700, 700],
    expected: [700, 700],
    bytes: 2e9,
    serverCpuSeconds: 2,
    clientCpuSeconds: 5,
    otherCpuSeconds: 0.5,
    latencyMs: { p50: 1.25, p99: 4.5, max: 9 },
    firstFrameMs: 0.4,
    errors: [],
    ...change,
  };
  const request = { streams: 1, playersPerStream: 2, seconds: 10, publisher: "ffmpeg" as const };
  return { target: { kind: "nginx", label: "nginx-rtmp" }, request, result, peakRssMiB: 12.4 };
}

const rowOf = (r: LoadRun) => loadTable([{ shape: "fanout", run: r }]).split("\n")[2].split("|").map((c) => c.trim());

describe("loadTable", () => {
  it("prints one Markdown row per run with CPU per GB, latency, memory and CPU shares", () => {
    expect(rowOf(run({}))).toEqual([
      "", "fanout", "nginx-rtmp", "1x2", "1.00", "2.000", "1.3 / 4.5 / 9.0", "0.4", "12",
      "20%", "50%", "5%", "700 / 700 / 700", "0", "",
    ]);
  });

  it("flags lost messages and players that never played", () => {
    const row = rowOf(run({ playing: 1, received: [693], expected: [700] }));
    expect(row[3]).toBe("1x2 **(1 playing)**");
    expect(row[13]).toBe("**7 (1.00%) LOST**");
  });

  it("prints '-' for latency that real FFmpeg publishers cannot give", () => {
    expect(rowOf(run({ latencyMs: null }))[6]).toBe("-");
  });
});
