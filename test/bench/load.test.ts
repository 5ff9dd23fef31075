import { describe, expect } from "bun:test";
import { liveTests } from "../helpers/live-server.ts";
import { requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { type LoadSpec, runLoad } from "../../bench/load.ts";

/** The clients of a short load against the in-process test server (whose CPU and memory are this process's). */
function spec(port: number, change: Partial<LoadSpec>): LoadSpec {
  return { port, serverPid: process.pid, streams: 1, playersPerStream: 2, seconds: 2, publisher: "ffmpeg", ...change };
}

/** Two streams of two players each for 2 s: every window message arrived, latency and first frame stamped. */
function expectStampedLoad(r: Awaited<ReturnType<typeof runLoad>>): void {
  expect(r.errors).toEqual([]);
  expect(r.playing).toBe(4);
  expect(r.received).toEqual(r.expected);
  // 2 s of ~73 messages a second per stream.
  expect(Math.min(...r.expected)).toBeGreaterThan(100);
  expect(r.bytes).toBeGreaterThan(4 * 500_000);
  expect(r.latencyMs!.p50).toBeGreaterThan(0);
  expect(r.latencyMs!.max).toBeGreaterThanOrEqual(r.latencyMs!.p99);
  expect(r.firstFrameMs).toBeGreaterThan(0);
  // The in-process server's JavaScript runs on this process's main thread.
  expect(r.serverThreads.map((t) => t.name)).toContain("JS main");
}

describe("runLoad", () => {
  const tests = liveTests("bench-load");

  for (const publisher of ["ffmpeg", "coalesced"] as const) {
    tests.it(`measures players of ${publisher} publishers: every window message arrives, latency is stamped`, async (live) => {
      expectStampedLoad(await runLoad(spec(live.server.port, { streams: 2, publisher })));
    }, 30_000);
  }

  tests.it("churns connections of all four kinds beside steady players, and samples the server's memory", async (live) => {
    const r = await runLoad(spec(live.server.port, { churn: { connections: 40, afterSeconds: 3 } }));
    expect(r.errors).toEqual([]);
    expect(r.churn).toEqual({ ok: [10, 10, 10, 10], failed: [0, 0, 0, 0] });
    expect(r.received).toEqual(r.expected);
    expect(r.rss!.peak).toBeGreaterThanOrEqual(r.rss!.before);
    expect(r.rss!.after).toBeGreaterThan(0);
  }, 40_000);

  tests.skipIf(!requireFfmpeg()).it("counts real FFmpeg publishers' messages by timestamp, without latency", async (live) => {
    const source = await testSource();
    const r = await runLoad(spec(live.server.port, { publisher: "real", source }));
    expect(r.errors).toEqual([]);
    expect(r.playing).toBe(2);
    expect(r.latencyMs).toBeNull();
    expect(r.received).toEqual(r.expected);
    // 2 s of 25 fps video and 43 AAC frames a second, give or take the window's edges.
    expect(Math.min(...r.expected)).toBeGreaterThan(50);
  }, 40_000);
});

describe("runLoad over FLV", () => {
  const tests = liveTests("bench-load-flv", {
    adjust: (config) => {
      config.http.listen = { host: "127.0.0.1", port: 0 };
    },
  });

  for (const protocol of ["http-flv", "ws-flv"] as const) {
    tests.it(`measures ${protocol} players with the same stamps: every window message arrives`, async (live) => {
      const httpPort = live.server.server.httpPort!;
      expectStampedLoad(await runLoad(spec(live.server.port, { streams: 2, protocol, httpPort })));
    }, 30_000);
  }
});
