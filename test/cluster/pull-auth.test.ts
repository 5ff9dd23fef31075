/**
 * Play auth on the origin and cluster pulls: A asks players for a token (auth.mode token, actions [play]);
 * B's pull, signed with the shared cluster.secret, passes it, while a player without credentials or with a
 * signature made with another secret is refused as any bad player is, and the signature is never logged.
 */
import { describe, expect } from "bun:test";
import type { Config } from "../../src/config/config.ts";
import { signStreamKey } from "../../src/shared/signature.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { startTestServer } from "../helpers/live-server.ts";
import { publish, requireFfmpeg } from "../helpers/media.ts";
import { RawRtmpClient, isVideoFrame, statusCode, statusLevel } from "../helpers/raw-rtmp-client.ts";
import { baseUrl, recordEvents, startEdge, subscribers } from "./pull-nodes.ts";

const CLUSTER_SECRET = "cluster-5e1b9d04";
const TOKEN = "tok-77c2a0f1";

/** A player of live/NAME on `port`: the code and level of the onStatus its play got first after Reset. */
async function playStatus(port: number, name: string): Promise<{ code?: string; level?: string }> {
  const client = await RawRtmpClient.connect(port);
  try {
    await client.play(name).catch(() => undefined);
    const isAnswer = (e: Parameters<typeof statusCode>[0]) => statusCode(e) === "NetStream.Play.Start" || statusLevel(e) === "error";
    const answer = await client.waitFor(isAnswer, 5_000, `the answer to play ${name}`);
    return { code: statusCode(answer), level: statusLevel(answer) };
  } finally {
    client.close();
  }
}

describe.skipIf(!requireFfmpeg())("pulls through the origin's play auth", () => {
  const tests = testsAtOnce(() => new Scope());

  tests.it("lets B's signed pull through A's token play auth, and refuses unsigned and wrongly signed players", async (scope) => {
    const a = await startTestServer((config: Config) => {
      config.auth = { ...config.auth, mode: "token", actions: ["play"], tokens: { "live/sec": TOKEN } };
      config.cluster.secret = CLUSTER_SECRET;
    });
    scope.defer(() => a.stop());
    const aEvents = recordEvents(a);
    const b = await startEdge([baseUrl(a.port)], (config) => (config.cluster.secret = CLUSTER_SECRET));
    scope.defer(() => b.stop());
    publish(scope.children, await testSource({ seconds: 30 }), a.url("sec"));
    await waitFor(() => (a.server.registry.streams.get("live/sec")?.videoHeader ?? null) !== null, 10_000, "live/sec on A");

    // B's viewer needs no credentials on B; B's pull carries the cluster signature to A.
    const viewer = await RawRtmpClient.connect(b.port);
    scope.defer(() => viewer.close());
    await viewer.play("sec");
    await viewer.waitFor(isVideoFrame, 10_000, "a video frame pulled through A's auth");
    expect(subscribers(a, "live/sec")).toBe(1);

    // Anyone else on A: the token mode decides.
    const refused = { code: "NetStream.Play.Unauthorized", level: "error" };
    const now = Math.floor(Date.now() / 1000);
    expect(await playStatus(a.port, "sec")).toEqual(refused);
    expect(await playStatus(a.port, `sec?sign=${signStreamKey("live/sec", "another-secret", now + 60)}`)).toEqual(refused);
    expect(await playStatus(a.port, `sec?sign=${signStreamKey("live/sec", CLUSTER_SECRET, now - 60)}`)).toEqual(refused);
    expect(await playStatus(a.port, `sec?token=${TOKEN}`)).toEqual({ code: "NetStream.Play.Start", level: "status" });
    expect(aEvents.filter((e) => e.type === "auth_failed").map((e) => e.data.action)).toEqual(["play", "play", "play"]);

    // A node with another secret cannot pull: its attempt is refused like the players above.
    const stranger = await startEdge([baseUrl(a.port)], (config) => (config.cluster.secret = "not-the-cluster-secret"));
    scope.defer(() => stranger.stop());
    const strangerEvents = recordEvents(stranger);
    const other = await RawRtmpClient.connect(stranger.port);
    scope.defer(() => other.close());
    await other.play("sec");
    await waitFor(() => aEvents.filter((e) => e.type === "auth_failed").length === 4, 10_000, "the stranger's pull refused by A");
    expect(other.media()).toEqual([]);
    expect(strangerEvents.filter((e) => e.type === "pull_start")).toEqual([]);

    // No signature (nor the secret) in any log line.
    for (const node of [a, b, stranger]) {
      expect(node.logs.lines.filter((line) => line.includes("sign=") || line.includes(CLUSTER_SECRET))).toEqual([]);
    }
  }, 60_000);
});
