/**
 * Pulls when things go wrong: the origin killed with SIGKILL (its pulls end at once, their viewers get what an
 * unpublish gives them, and a waiting RTMP player finds the stream once it is published again elsewhere), and a
 * stream published nowhere (its viewers end as today's viewers of an unknown stream do).
 */
import { describe, expect } from "bun:test";
import { join } from "node:path";
import type { Config } from "../../src/config/config.ts";
import { UserControlEventType } from "../../src/protocol/control.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { type TestServer, startTestServer, waitUntilLive } from "../helpers/live-server.ts";
import { fileSize, play, publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { RawRtmpClient, isUserControl, isVideoFrame, statusCode } from "../helpers/raw-rtmp-client.ts";
import { baseUrl, httpUrl, recordEvents, startEdge, startNodeProcess } from "./pull-nodes.ts";

const TEST_MS = 60_000;

/** What a viewer of `key` gets on `node` over HTTP-FLV and HLS: the status of each. */
async function httpAnswers(node: TestServer, key: string): Promise<{ flv: number; hls: number }> {
  const [flv, hls] = await Promise.all([fetch(httpUrl(node, `/${key}.flv`)), fetch(httpUrl(node, `/${key}/index.m3u8`))]);
  await Promise.all([flv.arrayBuffer(), hls.arrayBuffer()]);
  return { flv: flv.status, hls: hls.status };
}

describe.skipIf(!requireFfmpeg())("pull faults", () => {
  const tests = testsAtOnce(() => new Scope());

  tests.it("ends B's pull when A is killed; B's viewers get unpublish, and the waiting player finds a republish on another origin", async (scope) => {
    const scratch = scratchDir("pull-kill");
    scope.defer(() => scratch.remove());
    const { node: a, port: aPort } = await startNodeProcess(scope.children, scratch.path);
    const a2 = await startTestServer();
    scope.defer(() => a2.stop());
    const b = await startEdge([baseUrl(aPort), baseUrl(a2.port)]);
    scope.defer(() => b.stop());
    const bEvents = recordEvents(b);
    const source = await testSource({ seconds: 30 });
    publish(scope.children, source, `${baseUrl(aPort)}/live/k`);
    await waitUntilLive(aPort, "k");

    const viewer = await RawRtmpClient.connect(b.port);
    scope.defer(() => viewer.close());
    const streamId = await viewer.play("k");
    await viewer.waitFor(isVideoFrame, 10_000, "a video frame pulled from A");
    const copy = join(scratch.path, "http.flv");
    const httpPlayer = play(scope.children, httpUrl(b, "/live/k.flv"), copy);
    // FFmpeg writes once it has probed the stream: from then on it plays.
    await waitFor(() => fileSize(copy) > 0, 10_000, "FFmpeg to play HTTP-FLV from B", () => httpPlayer.describe());

    a.kill("SIGKILL");
    await waitFor(() => bEvents.some((e) => e.type === "pull_stop"), 10_000, "pull_stop on B", () => b.logs.tail());
    const stop = bEvents.find((e) => e.type === "pull_stop")!;
    expect(stop.data.from).toBe(baseUrl(aPort));
    expect(String(stop.data.reason)).toStartWith("the source went away");

    // What an unpublish gives: the RTMP player is told and stays; the HTTP-FLV response ends.
    const told = viewer.events.length;
    const unpublished = await viewer.waitForStatus("NetStream.Play.UnpublishNotify", 5_000);
    expect(unpublished.kind === "command" && unpublished.streamId).toBe(streamId);
    await viewer.waitFor((e) => isUserControl(e, UserControlEventType.StreamEof), 5_000, "Stream EOF");
    expect(await httpPlayer.waitExit(10_000), httpPlayer.describe()).toBe(0);
    expect(viewer.isClosed).toBe(false);

    // Published again, on the second origin: the waiting player finds it (A is down: the next origin plays).
    publish(scope.children, source, a2.url("k"));
    await viewer.waitFor((e) => statusCode(e) === "NetStream.Play.PublishNotify", 15_000, "PublishNotify after the republish", told);
    await viewer.waitFor(isVideoFrame, 10_000, "a video frame pulled from the second origin", told + 1);
    const starts = bEvents.filter((e) => e.type === "pull_start").map((e) => e.data.from);
    expect(starts).toEqual([baseUrl(aPort), baseUrl(a2.port)]);
  }, TEST_MS);

  tests.it("gives a viewer of a stream published nowhere what a viewer of an unknown stream gets today", async (scope) => {
    const quick = (config: Config) => (config.timeouts.handshakeMs = 1_000);
    const a = await startTestServer();
    scope.defer(() => a.stop());
    const aEvents = recordEvents(a);
    const b = await startEdge([baseUrl(a.port)], quick);
    scope.defer(() => b.stop());
    const bEvents = recordEvents(b);
    // Today's server: no cluster at all.
    const today = await startEdge([], quick);
    scope.defer(() => today.stop());

    expect(await httpAnswers(b, "live/none")).toEqual(await httpAnswers(today, "live/none"));
    expect(await httpAnswers(b, "live/none")).toEqual({ flv: 404, hls: 404 });

    // An RTMP player is told the play started and waits, as today: B's attempt at A comes and goes.
    const viewer = await RawRtmpClient.connect(b.port);
    scope.defer(() => viewer.close());
    const seen = aEvents.length;
    await viewer.play("none");
    const attemptEnded = () => aEvents.slice(seen).some((e) => e.type === "play_stop" && e.stream_key === "live/none");
    await waitFor(attemptEnded, 10_000, "B's attempt to end on A");
    expect(viewer.media()).toEqual([]);
    expect(viewer.isClosed).toBe(false);
    expect(bEvents.filter((e) => e.type === "pull_start" || e.type === "publish_start")).toEqual([]);
    expect(b.server.registry.streams.get("live/none")?.publisher).toBeNull();

    // And it gets the stream once it is published on A: waiting players ask again.
    publish(scope.children, await testSource({ seconds: 30 }), a.url("none"));
    await viewer.waitFor(isVideoFrame, 15_000, "a video frame once published on A");
  }, TEST_MS);
});
