/**
 * Pull on demand between two nodes on static origins: a real FFmpeg publishes to node A; node B
 * (cluster.origins: [A]) serves the stream to RTMP, HTTP-FLV, WS-FLV and HLS viewers through one pull, as a
 * local publication (its late joiners start from the GOP cache), shown with its origin, neither recorded nor
 * relayed again, and ended cluster.pull_idle after its last viewer.
 */
import { describe, expect } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { startTestServer, waitUntilLive } from "../helpers/live-server.ts";
import { probeTestSourceCopy, publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { RawRtmpClient, isKeyframe, isVideoFrame } from "../helpers/raw-rtmp-client.ts";
import { baseUrl, getJson, httpUrl, recordEvents, recordFor, recordWebSocket, startEdge, subscribers } from "./pull-nodes.ts";

const TEST_MS = 60_000;

interface StreamView {
  key: string;
  origin: string | null;
  players: number;
  players_by_protocol: Record<string, number>;
  recording: string | null;
  relays: unknown[];
}

describe.skipIf(!requireFfmpeg())("pull on demand from a static origin", () => {
  const tests = testsAtOnce(() => new Scope());

  tests.it("serves a stream published on A to RTMP, HTTP-FLV, WS-FLV and HLS viewers on B through one pull", async (scope) => {
    const scratch = scratchDir("pull");
    scope.defer(() => scratch.remove());
    const a = await startTestServer();
    scope.defer(() => a.stop());
    const recordings = join(scratch.path, "recordings");
    const b = await startEdge([baseUrl(a.port)], (config) => {
      config.recording.enabled = true;
      config.recording.dir = recordings;
      // A relay destination that would take the stream if the edge relayed it: A itself, under another name.
      config.relay.destinations = [{ url: `${baseUrl(a.port)}/copy/{name}`, streams: [] }];
    });
    scope.defer(() => b.stop());
    const bEvents = recordEvents(b);
    publish(scope.children, await testSource({ seconds: 30 }), a.url("cam"));
    await waitUntilLive(a.port, "cam");

    const raw: RawRtmpClient[] = [];
    scope.defer(() => raw.forEach((c) => c.close()));
    for (let i = 0; i < 3; i++) {
      const client = await RawRtmpClient.connect(b.port);
      raw.push(client);
      await client.play("cam");
    }
    const path = (name: string) => join(scratch.path, name);
    const played = Promise.all([
      recordFor(scope.children, b.url("cam"), 3, path("rtmp.flv")),
      recordFor(scope.children, httpUrl(b, "/live/cam.flv"), 3, path("http.flv")),
      recordWebSocket(httpUrl(b, "/live/cam.flv").replace("http:", "ws:"), 200_000, path("ws.flv")),
      recordFor(scope.children, httpUrl(b, "/live/cam/index.m3u8"), 2, path("hls.mp4")),
    ]);
    // Every viewer on B plays at once, and A sees one player: B's pull.
    await waitFor(() => subscribers(b, "live/cam") >= 6, 20_000, "6 RTMP, HTTP-FLV and WS-FLV players on B");
    expect(subscribers(a, "live/cam")).toBe(1);
    const aPlayers = [...a.server.connections.values()].filter((c) => c.role === "player");
    expect(aPlayers.map((c) => c.streamKey)).toEqual(["live/cam"]);

    for (const file of await played) await probeTestSourceCopy(file);
    for (const client of raw) {
      const first = await client.waitFor(isVideoFrame, 10_000, "a video frame");
      expect(isKeyframe(first), "a joiner of the pulled stream starts at a keyframe").toBe(true);
    }
    expect(subscribers(a, "live/cam")).toBe(1);
    // /api/cluster counts every viewer of the pull, HLS included: the 3 raw players and the HLS session.
    await waitFor(() => subscribers(b, "live/cam") === 3, 10_000, "the FFmpeg and WebSocket players to leave B");
    const cluster = await getJson<{ pulls: unknown[] }>(b, "/api/cluster");
    expect(cluster.pulls).toEqual([{ stream_key: "live/cam", from: baseUrl(a.port), players: 4 }]);
    expect(bEvents.filter((e) => e.type === "pull_start").map((e) => [e.stream_key, e.data.from])).toEqual([["live/cam", baseUrl(a.port)]]);

    // B shows where the stream comes from; A shows it as its own. Neither a recording nor a relay on B.
    const { streams } = await getJson<{ streams: StreamView[] }>(b, "/api/streams");
    const pulled = streams.find((s) => s.key === "live/cam");
    expect(pulled).toMatchObject({ origin: baseUrl(a.port), recording: null, relays: [] });
    expect(existsSync(recordings) ? readdirSync(recordings) : []).toEqual([]);
    expect(a.server.registry.streams.has("copy/cam"), "B relayed the pulled stream").toBe(false);
    expect(a.server.registry.streams.get("live/cam")?.origin).toBeNull();
  }, TEST_MS);

  tests.it("ends the pull cluster.pull_idle after its last viewer, and pulls again for the next", async (scope) => {
    const a = await startTestServer();
    scope.defer(() => a.stop());
    const b = await startEdge([baseUrl(a.port)], (config) => (config.cluster.pullIdleMs = 500));
    scope.defer(() => b.stop());
    const bEvents = recordEvents(b);
    publish(scope.children, await testSource({ seconds: 30 }), a.url("idle"));
    await waitUntilLive(a.port, "idle");

    const viewer = await RawRtmpClient.connect(b.port);
    await viewer.play("idle");
    await viewer.waitFor(isVideoFrame, 10_000, "a video frame through the pull");
    expect(subscribers(a, "live/idle")).toBe(1);
    viewer.close();
    await waitFor(() => bEvents.some((e) => e.type === "pull_stop"), 10_000, "pull_stop on B");
    const stop = bEvents.find((e) => e.type === "pull_stop")!;
    expect(stop.stream_key).toBe("live/idle");
    expect(stop.data).toEqual({ from: baseUrl(a.port), reason: "no viewer for 500 ms" });
    await waitFor(() => subscribers(a, "live/idle") === 0, 10_000, "B's pull to leave A");
    expect(b.server.registry.streams.has("live/idle")).toBe(false);

    // The next viewer pulls it again.
    const next = await RawRtmpClient.connect(b.port);
    scope.defer(() => next.close());
    await next.play("idle");
    await next.waitFor(isVideoFrame, 10_000, "a video frame through a new pull");
    expect(bEvents.filter((e) => e.type === "pull_start")).toHaveLength(2);
  }, TEST_MS);
});
