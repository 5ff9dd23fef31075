import { describe, expect } from "bun:test";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { liveTests } from "../helpers/live-server.ts";
import { requireFfmpeg } from "../helpers/media.ts";
import { requireNginx } from "../relay/nginx-destination.ts";
import { testSource } from "../../support/test-source.ts";
import { runLoadOn } from "../../bench/harness.ts";
import { type LoadResult, type LoadSpec, runLoad } from "../../bench/load.ts";
import { nginxHlsTarget } from "../../bench/servers.ts";

/** A short load of HLS viewers against the in-process test server (whose CPU is this process's). */
function spec(port: number, httpPort: number, change: Partial<LoadSpec>): LoadSpec {
  return { port, httpPort, serverPid: process.pid, streams: 2, playersPerStream: 2, seconds: 2, publisher: "ffmpeg", ...change };
}

/** Every viewer played and received every frame of the window. */
function expectEveryViewerPlayed(r: LoadResult, viewers: number): void {
  expect(r.errors).toEqual([]);
  expect(r.playing).toBe(viewers);
  expect(r.received.length).toBe(viewers);
  expect(r.received).toEqual(r.expected);
  expect(r.firstFrameMs).toBeGreaterThan(0);
}

describe("runLoad with HLS viewers of rtmp-server", () => {
  for (const lowLatency of [true, false]) {
    const protocol = lowLatency ? "ll-hls" : "hls";
    describe(protocol, () => {
      const tests = liveTests(`bench-${protocol}`, {
        adjust: (config) => {
          config.http.listen = { host: "127.0.0.1", port: 0 };
          config.hls.enabled = true;
          config.hls.lowLatency = lowLatency;
        },
      });

      tests.it("plays the stamped frames to every viewer, with their latency, the first playlist's time and the muxers' memory", async (live) => {
        const r = await runLoad(spec(live.server.port, live.server.server.httpPort!, { protocol }));
        expectEveryViewerPlayed(r, 4);
        // 2 s of ~73 frames a second per stream.
        expect(Math.min(...r.expected)).toBeGreaterThan(100);
        expect(r.bytes).toBeGreaterThan(4 * 500_000);
        expect(r.latencyMs!.p50).toBeGreaterThan(0);
        expect(r.latencyMs!.max).toBeGreaterThanOrEqual(r.latencyMs!.p99);
        expect(r.hls!.firstPlaylistMs).toBeGreaterThan(0);
        expect(r.hls!.muxers).toBe(2);
        expect(r.hls!.windowBytes).toBeGreaterThan(0);
      }, 30_000);
    });
  }
});

describe.skipIf(!requireFfmpeg() || !requireNginx())("nginx-rtmp's HLS through the harness", () => {
  // The harness starts and stops nginx itself: the scope holds nothing, the test runs beside the others.
  const tests = testsAtOnce(() => new Scope());

  tests.it("serves its MPEG-TS segments from its own http block to plain HLS viewers of a real FFmpeg publisher", async () => {
    const source = await testSource();
    const request = { streams: 1, playersPerStream: 2, seconds: 2, publisher: "real", source } as const;
    const run = await runLoadOn(nginxHlsTarget(), request, "free");
    expectEveryViewerPlayed(run.result, 2);
    expect(run.result.bytes).toBeGreaterThan(0);
    expect(run.result.latencyMs).toBeNull();
    // nginx has no /metrics: the viewers' own figure only.
    expect(run.result.hls).toMatchObject({ muxers: null, windowBytes: null });
    expect(run.result.hls!.firstPlaylistMs).toBeGreaterThan(0);
  }, 60_000);
});
