/**
 * streams.publish_conflict across the cluster: two nodes on one real Redis, FFmpeg publishers. A key published
 * on one node is refused on the other with NetStream.Publish.BadName (reject), or taken over with the first
 * publisher closed (replace); /api/cluster and /metrics show the nodes and the registry.
 */
import { describe, expect } from "bun:test";
import type { Config } from "../../src/config/config.ts";
import type { TestServer } from "../helpers/live-server.ts";
import { publish, requireFfmpeg } from "../helpers/media.ts";
import { SMALL_SOURCE, testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { ClusterScope, httpGet, ownerOf, registryUp } from "./redis-nodes.ts";
import { redisTests } from "./redis.ts";

const TEST_MS = 60_000;

/** Nodes a and b of the test's cluster, both up. */
function twoNodes(t: ClusterScope, conflict: "reject" | "replace" = "reject"): Promise<[TestServer, TestServer]> {
  const adjust = (c: Config) => (c.streams.publishConflict = conflict);
  return Promise.all([t.node("a", adjust), t.node("b", adjust)]);
}

describe.skipIf(!requireFfmpeg())("a stream key published on one node", () => {
  const tests = redisTests(() => new ClusterScope());

  tests.it("is refused on another with NetStream.Publish.BadName while it lasts, and free once it ends", async (t) => {
    const { redis, children } = t;
    const [a, b] = await twoNodes(t);
    const [large, small] = await Promise.all([testSource(), testSource(SMALL_SOURCE)]);
    const first = publish(children, large, a.url("dup"), { seconds: 6 });
    await a.waitUntilLive("dup");
    expect(await ownerOf(redis, "live/dup")).toBe("a");

    const intruder = await t.rawClient(b.port);
    expect(await intruder.publish("dup")).toEqual({ level: "error", code: "NetStream.Publish.BadName" });
    expect(await intruder.closedWithin(3_000), intruder.summary()).toBe(true);
    const second = publish(children, small, b.url("dup"), { seconds: 4 });
    expect(await second.waitExit(10_000), second.describe()).not.toBe(0);
    // A conflict, not a failed authentication.
    expect(b.server.stats.authDenied).toBe(0);
    expect(b.logs.records().some((r) => r.msg === "publish refused: published on another node" && r.owner === "a")).toBe(true);

    // The first publisher was never disturbed; when it ends, its claim goes with it.
    expect(await first.waitExit(20_000), first.describe()).toBe(0);
    await waitFor(async () => (await ownerOf(redis, "live/dup")) === null, 5_000, "a's claim to be released");
    const next = await t.rawClient(b.port);
    expect(await next.publish("dup")).toEqual({ level: "status", code: "NetStream.Publish.Start" });
    expect(await ownerOf(redis, "live/dup")).toBe("b");
  }, TEST_MS);

  tests.it('is taken over by a publish on another node under publish_conflict: "replace", and the first is closed', async (t) => {
    const { redis, children } = t;
    const [a, b] = await twoNodes(t, "replace");
    const [large, small] = await Promise.all([testSource({ seconds: 30 }), testSource(SMALL_SOURCE)]);
    const first = publish(children, large, a.url("dup"));
    await a.waitUntilLive("dup");

    const second = publish(children, small, b.url("dup"));
    await b.waitUntilLive("dup");
    // a hears it lost the key (pub/sub, else its next beat) and closes its publisher.
    await first.waitExit(10_000);
    const closes = a.logs.records().filter((r) => r.msg === "connection closed").map((r) => r.reason);
    expect(closes).toContain("published on another node");
    expect(await ownerOf(redis, "live/dup")).toBe("b");
    expect(second.running).toBe(true);
  }, TEST_MS);

  tests.it("is listed in /api/cluster under its node, and /metrics shows the registry up", async (t) => {
    const [a, b] = await twoNodes(t);
    expect((await (await t.rawClient(a.port)).publish("one")).code).toBe("NetStream.Publish.Start");
    expect((await (await t.rawClient(b.port)).publish("two")).code).toBe("NetStream.Publish.Start");
    const response = await httpGet(a, "/api/cluster");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      node_id: "a",
      nodes: [
        { node_id: "a", advertise: `rtmp://127.0.0.1:${a.port}`, streams: ["live/one"] },
        { node_id: "b", advertise: `rtmp://127.0.0.1:${b.port}`, streams: ["live/two"] },
      ],
      pulls: [],
    });
    expect(await registryUp(a)).toBe(1);
  }, TEST_MS);
});
