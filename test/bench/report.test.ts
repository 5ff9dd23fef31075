import { describe, expect, it } from "bun:test";
import type { LoadRun } from "../../bench/harness.ts";
import type { LoadResult } from "../../bench/load.ts";
import type { OutputsCheck } from "../../bench/outputs.ts";
import { comparisonTable, loadTable, outputsNotes, threadsTable } from "../../bench/report.ts";
import type { RtmpServerTarget } from "../../bench/servers.ts";

function run(change: Partial<LoadResult>): LoadRun {
  const result: LoadResult = {
    players: 2,
    playing: 2,
    windowSeconds: 10,
    received: [700, 700],
    expected: [700, 700],
    bytes: 2e9,
    serverCpuSeconds: 2,
    serverThreads: [{ name: "JS main", seconds: 1.5 }, { name: "JSC GC helpers", seconds: 0.5 }],
    clientCpuSeconds: 5,
    otherCpuSeconds: 0.5,
    latencyMs: { p50: 1.25, p99: 4.5, max: 9 },
    firstFrameMs: 0.4,
    errors: [],
    ...change,
  };
  const request = { streams: 1, playersPerStream: 2, seconds: 10, publisher: "ffmpeg" as const };
  return { target: { kind: "nginx", label: "nginx-rtmp" }, request, result, cores: "pinned", peakRssMiB: 12.4 };
}

const rowOf = (r: LoadRun) => loadTable([{ shape: "fanout", run: r }]).split("\n")[2].split("|").map((c) => c.trim());

describe("loadTable", () => {
  it("prints one Markdown row per run with CPU per GB, latency, memory and CPU shares", () => {
    expect(rowOf(run({}))).toEqual([
      "", "fanout", "nginx-rtmp", "pinned", "1x2", "1.00", "2.000", "1.3 / 4.5 / 9.0", "0.4", "12",
      "20%", "50%", "5%", "700 / 700 / 700", "0", "",
    ]);
  });

  it("flags lost messages and players that never played", () => {
    const row = rowOf(run({ playing: 1, received: [693], expected: [700] }));
    expect(row[4]).toBe("1x2 **(1 playing)**");
    expect(row[14]).toBe("**7 (1.00%) LOST**");
  });

  it("prints '-' for latency that real FFmpeg publishers cannot give", () => {
    expect(rowOf(run({ latencyMs: null }))[7]).toBe("-");
  });
});

const plain: RtmpServerTarget = {
  kind: "rtmp-server", root: "/r", label: "main@abc", outputs: [], protocol: "rtmp", http: true, baseline: false,
};
const recRelay: RtmpServerTarget = { ...plain, label: "main@abc +rec+relay", outputs: ["recording", "relay"] };
const httpFlv: RtmpServerTarget = { ...plain, label: "main@abc (http-flv)", protocol: "http-flv" };
const hooksHttpFlv: RtmpServerTarget = { ...plain, label: "main@abc +hooks (http-flv)", outputs: ["hooks"], protocol: "http-flv" };

function on(
  target: RtmpServerTarget,
  cpu: number,
  p99: number,
  outputs?: OutputsCheck,
  serverThreads?: LoadResult["serverThreads"],
): LoadRun {
  const r = run({ serverCpuSeconds: cpu, latencyMs: { p50: 1, p99, max: 9 }, ...(serverThreads && { serverThreads }) });
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
      ["fanout 1x2 (pinned)", "main@abc +rec+relay", "main@abc", "1", "1.00 -> 1.10 (+10.0%)", "1.00 -> 1.10 (+10.0%)", "4.5 -> 5.0 (+0.5 ms)", "4.5 -> 5.0 (+0.5 ms)", "0.4 -> 0.4 (+0.0 ms)", "5% / 5%"],
      ["fanout 1x2 (pinned)", "main@abc (http-flv)", "main@abc", "1", "1.00 -> 0.95 (-5.0%)", "1.00 -> 0.95 (-5.0%)", "4.5 -> 4.0 (-0.5 ms)", "4.5 -> 4.0 (-0.5 ms)", "0.4 -> 0.4 (+0.0 ms)", "5% / 5%"],
      ["fanout 1x2 (pinned)", "main@abc +hooks (http-flv)", "main@abc (http-flv)", "1", "0.95 -> 0.95 (+0.0%)", "0.95 -> 0.95 (+0.0%)", "4.0 -> 4.2 (+0.2 ms)", "4.0 -> 4.2 (+0.2 ms)", "0.4 -> 0.4 (+0.0 ms)", "5% / 5%"],
    ]);
  });

  it("compares the medians and the best of repeated runs, the targets having taken turns", () => {
    const repeated = [2, 2.4, 1.6].flatMap((cpu, i) => [
      { shape: "fanout" as const, run: on(plain, cpu, 4 + i) },
      { shape: "fanout" as const, run: on(recRelay, cpu * 1.1, 4.5 + i) },
    ]);
    expect(comparisonTable(repeated, []).split("\n").slice(2).map(cells)).toEqual([
      ["fanout 1x2 (pinned)", "main@abc +rec+relay", "main@abc", "3", "1.00 -> 1.10 (+10.0%)", "0.80 -> 0.88 (+10.0%)", "5.0 -> 5.5 (+0.5 ms)", "4.0 -> 4.5 (+0.5 ms)", "0.4 -> 0.4 (+0.0 ms)", "5% / 5%"],
    ]);
  });

  it("compares this checkout with the --compare one run by run, on the same cores only", () => {
    const old: RtmpServerTarget = { ...plain, root: "/old", label: "old@123", baseline: true };
    const oldRec: RtmpServerTarget = { ...old, label: "old@123 +rec+relay", outputs: ["recording", "relay"] };
    const free = (r: LoadRun): LoadRun => ({ ...r, cores: "free", result: { ...r.result, firstFrameMs: 40 } });
    const compared = [
      { shape: "fanout" as const, run: on(plain, 2, 4.5) },
      { shape: "fanout" as const, run: on(recRelay, 2.2, 5) },
      { shape: "fanout" as const, run: on(old, 1.8, 5) },
      { shape: "fanout" as const, run: on(oldRec, 2, 5.5) },
      { shape: "fanout" as const, run: free(on(plain, 3, 6)) },
      { shape: "fanout" as const, run: free(on(old, 2.4, 6)) },
    ];
    expect(comparisonTable(compared, []).split("\n").slice(2).map(cells).map((c) => c.slice(0, 5))).toEqual([
      ["fanout 1x2 (pinned)", "main@abc", "old@123", "1", "0.90 -> 1.00 (+11.1%)"],
      ["fanout 1x2 (pinned)", "main@abc +rec+relay", "main@abc", "1", "1.00 -> 1.10 (+10.0%)"],
      ["fanout 1x2 (pinned)", "main@abc +rec+relay", "old@123 +rec+relay", "1", "1.00 -> 1.10 (+10.0%)"],
      ["fanout 1x2 (pinned)", "old@123 +rec+relay", "old@123", "1", "0.90 -> 1.00 (+11.1%)"],
      ["fanout 1x2 (free)", "main@abc", "old@123", "1", "1.20 -> 1.50 (+25.0%)"],
    ]);
  });

  it("is empty without variants", () => {
    expect(comparisonTable([{ shape: "fanout", run: on(plain, 2, 4.5) }], [])).toBe("");
  });
});

describe("threadsTable", () => {
  const threads = (main: number, helpers: number) => [
    { name: "JS main", seconds: main },
    { name: "JSC GC helpers", seconds: helpers },
  ];
  const cells = (line: string) => line.split("|").map((c) => c.trim()).slice(1, -1);

  it("gives each thread group's CPU per GB and share of a core, median over the runs of a load", () => {
    const rows = [1, 2, 3].map((i) => ({ shape: "fanout" as const, run: on(plain, 2 + i, 4, undefined, threads(1, i)) }));
    const lines = threadsTable(rows).split("\n");
    expect(cells(lines[0])).toEqual(["load", "server", "runs", "server CPU s/GB", "JSC GC helpers", "JS main"]);
    expect(lines.slice(2).map(cells)).toEqual([["fanout 1x2 (pinned)", "main@abc", "3", "2.00", "1.00 (20%)", "0.50 (10%)"]]);
  });

  it("adds the groups past the five that used most into one column", () => {
    const many = ["a", "b", "c", "d", "e", "f", "g"].map((name, i) => ({ name, seconds: 7 - i }));
    const lines = threadsTable([{ shape: "fanout", run: on(plain, 28, 4, undefined, many) }]).split("\n");
    expect(cells(lines[0]).slice(4)).toEqual(["a", "b", "c", "d", "e", "other"]);
    expect(cells(lines[2]).at(-1)).toBe("1.50 (30%)");
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
        "- fanout 1x2 (pinned) on main@abc +rec+relay: recording: 1 files, 5.0 MB",
        "- publishers 1x2 (pinned) on main@abc +rec+relay: recording: 0 files, 0.0 MB **recording of s0: 0 files**",
      ].join("\n"),
    );
    expect(rowOf(broken)[2]).toBe("main@abc +rec+relay **(outputs broken)**");
    expect(rowOf(fine)[2]).toBe("main@abc +rec+relay");
  });
});
