import { describe, expect, it } from "bun:test";
import type { LoadRun } from "./harness.ts";
import type { LoadResult } from "./load.ts";
import type { OutputsCheck } from "./outputs.ts";
import { comparisonTable, loadTable, outputsNotes } from "./report.ts";
import type { RtmpServerTarget } from "./servers.ts";

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

const plain: RtmpServerTarget = { kind: "rtmp-server", root: "/r", label: "main@abc", outputs: [], protocol: "rtmp", http: true };
const recRelay: RtmpServerTarget = { ...plain, label: "main@abc +rec+relay", outputs: ["recording", "relay"] };
const httpFlv: RtmpServerTarget = { ...plain, label: "main@abc (http-flv)", protocol: "http-flv" };
const hooksHttpFlv: RtmpServerTarget = { ...plain, label: "main@abc +hooks (http-flv)", outputs: ["hooks"], protocol: "http-flv" };

function on(target: RtmpServerTarget, cpu: number, p99: number, outputs?: OutputsCheck): LoadRun {
  const r = run({ serverCpuSeconds: cpu, latencyMs: { p50: 1, p99, max: 9 } });
  return { ...r, target, outputs };
}

describe("comparisonTable", () => {
  const rows = [
    { shape: "fanout" as const, run: on(plain, 2, 4.5) },
    { shape: "fanout" as const, run: on(recRelay, 2.2, 5) },
    { shape: "fanout" as const, run: on(httpFlv, 1.9, 4) },
    { shape: "fanout" as const, run: on(hooksHttpFlv, 1.9, 4.2) },
  ];
  const lines = comparisonTable(rows, []).split("\n").slice(2);
  const cells = (line: string) => line.split("|").map((c) => c.trim()).slice(1, -1);

  it("compares outputs with the same players without them, and FLV players with RTMP ones", () => {
    expect(lines.map(cells)).toEqual([
      ["fanout 1x2", "main@abc +rec+relay", "main@abc", "1", "1.00 -> 1.10 (+10.0%)", "1.00 -> 1.10 (+10.0%)", "4.5 -> 5.0 (+0.5 ms)", "4.5 -> 5.0 (+0.5 ms)", "5% / 5%"],
      ["fanout 1x2", "main@abc (http-flv)", "main@abc", "1", "1.00 -> 0.95 (-5.0%)", "1.00 -> 0.95 (-5.0%)", "4.5 -> 4.0 (-0.5 ms)", "4.5 -> 4.0 (-0.5 ms)", "5% / 5%"],
      ["fanout 1x2", "main@abc +hooks (http-flv)", "main@abc (http-flv)", "1", "0.95 -> 0.95 (+0.0%)", "0.95 -> 0.95 (+0.0%)", "4.0 -> 4.2 (+0.2 ms)", "4.0 -> 4.2 (+0.2 ms)", "5% / 5%"],
    ]);
  });

  it("compares the medians and the best of repeated runs, the targets having taken turns", () => {
    const repeated = [2, 2.4, 1.6].flatMap((cpu, i) => [
      { shape: "fanout" as const, run: on(plain, cpu, 4 + i) },
      { shape: "fanout" as const, run: on(recRelay, cpu * 1.1, 4.5 + i) },
    ]);
    expect(comparisonTable(repeated, []).split("\n").slice(2).map(cells)).toEqual([
      ["fanout 1x2", "main@abc +rec+relay", "main@abc", "3", "1.00 -> 1.10 (+10.0%)", "0.80 -> 0.88 (+10.0%)", "5.0 -> 5.5 (+0.5 ms)", "4.0 -> 4.5 (+0.5 ms)", "5% / 5%"],
    ]);
  });

  it("is empty without variants", () => {
    expect(comparisonTable([{ shape: "fanout", run: on(plain, 2, 4.5) }], [])).toBe("");
  });
});

describe("outputsNotes", () => {
  it("lists what each run's outputs did, with what was wrong in bold, and flags the run's row", () => {
    const broken = on(recRelay, 2.2, 5, { summary: "recording: 0 files, 0.0 MB", problems: ["recording of s0: 0 files"] });
    const fine = on(recRelay, 2.2, 5, { summary: "recording: 1 files, 5.0 MB", problems: [] });
    const rows = [{ shape: "fanout" as const, run: fine }, { shape: "publishers" as const, run: broken }];
    expect(outputsNotes(rows, [])).toBe(
      [
        "outputs checked after each run:",
        "- fanout 1x2 on main@abc +rec+relay: recording: 1 files, 5.0 MB",
        "- publishers 1x2 on main@abc +rec+relay: recording: 0 files, 0.0 MB **recording of s0: 0 files**",
      ].join("\n"),
    );
    expect(rowOf(broken)[2]).toBe("main@abc +rec+relay **(outputs broken)**");
    expect(rowOf(fine)[2]).toBe("main@abc +rec+relay");
  });
});
