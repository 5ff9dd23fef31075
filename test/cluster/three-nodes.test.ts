/**
 * Three nodes on one real redis-server: a stream a real FFmpeg publishes on A (a process, to be killed) is pulled
 * once by each of B and C for their RTMP, HTTP-FLV, WS-FLV and HLS viewers; kill -9 of A ends both pulls at once,
 * their RTMP viewers are told and stay, and a republish on C reaches B's waiting viewer through a pull from C.
 */
import { describe, expect } from "bun:test";
import { join } from "node:path";
import { UserControlEventType } from "../../src/protocol/control.ts";
import type { Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { type TestServer, waitUntilLive } from "../helpers/live-server.ts";
import { probeTestSourceCopy, publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { type RawRtmpClient, isUserControl, isVideoFrame, statusCode } from "../helpers/raw-rtmp-client.ts";
import { baseUrl, httpUrl, recordEvents, recordFor, recordWebSocket, startNodeProcess, subscribers } from "./pull-nodes.ts";
import { ClusterScope } from "./redis-nodes.ts";
import { redisTests } from "./redis.ts";

const TEST_MS = 60_000;

/** FFmpeg over RTMP, HTTP-FLV and HLS, and a WebSocket, playing `live/NAME` on `node`: the copies they made. */
function playEveryProtocol(children: Children, node: TestServer, name: string, dir: string): Promise<string[]> {
  const out = (protocol: string) => join(dir, `${node.server.cluster!.nodeId}-${protocol}`);
  const flv = httpUrl(node, `/live/${name}.flv`);
  return Promise.all([
    recordFor(children, node.url(name), 3, out("rtmp.flv")),
    recordFor(children, flv, 3, out("http.flv")),
    recordWebSocket(flv.replace("http:", "ws:"), 200_000, out("ws.flv")),
    recordFor(children, httpUrl(node, `/live/${name}/index.m3u8`), 2, out("hls.mp4")),
  ]);
}

/** GET `url` as JSON. */
async function json<T>(url: string): Promise<T> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return (await response.json()) as T;
}

describe.skipIf(!requireFfmpeg() || Bun.which("redis-server") === null)("three nodes on Redis", () => {
  const tests = redisTests(() => new ClusterScope());

  tests.it("serve A's stream on B and C over every protocol through one pull each, and survive A's kill -9", async (t) => {
    const scratch = scratchDir("three-nodes");
    t.defer(() => scratch.remove());
    const aHttpPort = freePort();
    const aHttp = `http://127.0.0.1:${aHttpPort}`;
    const cluster = ["cluster:", "  node_id: a", `  redis: "${t.redis.url}"`];
    const { node: a, port: aPort } = await startNodeProcess(t.children, scratch.path, ["http:", `  listen: "127.0.0.1:${aHttpPort}"`, ...cluster]);
    const [b, c] = await Promise.all([
      t.node("b", (config) => (config.hls.enabled = true)),
      // A publisher moved to C takes the key over from A's record, which outlives A's kill by up to 10 s.
      t.node("c", (config) => {
        config.hls.enabled = true;
        config.streams.publishConflict = "replace";
      }),
    ]);
    const bEvents = recordEvents(b);
    const cEvents = recordEvents(c);
    const pullStarts = (events: typeof bEvents) => events.filter((e) => e.type === "pull_start").map((e) => e.data.from);

    const source = await testSource({ seconds: 30 });
    publish(t.children, source, `${baseUrl(aPort)}/live/k`);
    await waitUntilLive(aPort, "k");
    await waitFor(async () => (await b.server.cluster!.lookup("live/k"))?.nodeId === "a", 10_000, "B to find live/k on A", () => a.describe());

    // A raw RTMP viewer on each edge stays through the fault; FFmpeg and WebSocket viewers play at the same time.
    const viewers: [RawRtmpClient, RawRtmpClient] = [await t.rawClient(b.port), await t.rawClient(c.port)];
    const streamIds = await Promise.all(viewers.map((v) => v.play("k")));
    const played = Promise.all([b, c].map((node) => playEveryProtocol(t.children, node, "k", scratch.path)));
    const playing = () => subscribers(b, "live/k") >= 4 && subscribers(c, "live/k") >= 4;
    await waitFor(playing, 20_000, "4 RTMP, HTTP-FLV and WS-FLV players on each of B and C");
    await Promise.all((await played).flat().map((file) => probeTestSourceCopy(file)));
    await Promise.all(viewers.map((v) => v.waitFor(isVideoFrame, 10_000, "a video frame pulled from A")));

    // One pull each: A has two players, B's and C's pulls.
    expect(pullStarts(bEvents)).toEqual(["a"]);
    expect(pullStarts(cEvents)).toEqual(["a"]);
    const { streams } = await json<{ streams: { key: string; players: number }[] }>(`${aHttp}/api/streams`);
    expect(streams.find((s) => s.key === "live/k")?.players).toBe(2);
    const nodes = [
      { node_id: "a", advertise: baseUrl(aPort), streams: ["live/k"] },
      { node_id: "b", advertise: baseUrl(b.port), streams: [] },
      { node_id: "c", advertise: baseUrl(c.port), streams: [] },
    ];
    for (const url of [`${aHttp}/api/cluster`, httpUrl(b, "/api/cluster"), httpUrl(c, "/api/cluster")]) {
      expect((await json<{ nodes: unknown[] }>(url)).nodes, url).toEqual(nodes);
    }

    const told = viewers.map((v) => v.events.length);
    a.kill("SIGKILL");
    for (const [node, events] of [[b, bEvents], [c, cEvents]] as const) {
      await waitFor(() => events.some((e) => e.type === "pull_stop"), 5_000, "pull_stop once A is gone", () => node.logs.tail());
      const stop = events.find((e) => e.type === "pull_stop")!;
      expect(stop.data.from).toBe("a");
      expect(String(stop.data.reason)).toStartWith("the source went away");
    }
    // What an unpublish gives a player: told, and kept.
    for (const [i, viewer] of viewers.entries()) {
      const unpublished = await viewer.waitFor((e) => statusCode(e) === "NetStream.Play.UnpublishNotify", 5_000, "UnpublishNotify", told[i]);
      expect(unpublished.kind === "command" && unpublished.streamId).toBe(streamIds[i]);
      await viewer.waitFor((e) => isUserControl(e, UserControlEventType.StreamEof), 5_000, "Stream EOF", told[i]);
      expect(viewer.isClosed).toBe(false);
    }

    // The same key published on C: C's viewer plays it there, and B's waiting viewer gets it through a pull from C.
    const waiting = viewers.map((v) => v.events.length);
    publish(t.children, source, c.url("k"));
    const [bViewer, cViewer] = viewers;
    await cViewer.waitFor(isVideoFrame, 10_000, "a video frame published on C", waiting[1]);
    await bViewer.waitFor((e) => statusCode(e) === "NetStream.Play.PublishNotify", 15_000, "PublishNotify on B after the republish", waiting[0]);
    await bViewer.waitFor(isVideoFrame, 10_000, "a video frame pulled from C", waiting[0]);
    expect(pullStarts(bEvents)).toEqual(["a", "c"]);
    expect(pullStarts(cEvents)).toEqual(["a"]);
  }, TEST_MS);
});
