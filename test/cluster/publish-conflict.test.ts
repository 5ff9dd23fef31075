/**
 * streams.publish_conflict across the cluster: two nodes on one real Redis, FFmpeg publishers. A key published
 * on one node is refused on the other with NetStream.Publish.BadName (reject), or taken over with the first
 * publisher closed (replace); /api/cluster and /metrics show the nodes and the registry.
 */
import { afterEach, describe, expect, it, setDefaultTimeout } from "bun:test";
import type { TestServer } from "../helpers/live-server.ts";
import { publish, requireFfmpeg } from "../helpers/media.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";
import { Children } from "../../support/children.ts";
import { SMALL_SOURCE, testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { httpGet, ownerOf, registryUp, startNode } from "./redis-nodes.ts";
import { redisForTests } from "./redis.ts";

setDefaultTimeout(60_000);

const redis = redisForTests();

const children = new Children();
let nodes: TestServer[] = [];
const clients: RawRtmpClient[] = [];

async function twoNodes(conflict: "reject" | "replace" = "reject"): Promise<[TestServer, TestServer]> {
  const started = await Promise.all(["a", "b"].map((id) => startNode(redis, id, (c) => (c.streams.publishConflict = conflict))));
  nodes.push(...started);
  await waitFor(() => started.every((n) => n.server.cluster?.state === "up"), 5_000, "both nodes to reach redis");
  return [started[0], started[1]];
}

async function rawClient(node: TestServer): Promise<RawRtmpClient> {
  const client = await RawRtmpClient.connect(node.port);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await children.killAll();
  await Promise.all(nodes.map((n) => n.stop()));
  nodes = [];
  await redis.send("FLUSHALL", []);
});

describe.skipIf(!requireFfmpeg())("a stream key published on one node", () => {
  it("is refused on another with NetStream.Publish.BadName while it lasts, and free once it ends", async () => {
    const [a, b] = await twoNodes();
    const [large, small] = await Promise.all([testSource(), testSource(SMALL_SOURCE)]);
    const first = publish(children, large, a.url("dup"), { seconds: 6 });
    await a.waitUntilLive("dup");
    expect(await ownerOf(redis, "live/dup")).toBe("a");

    const intruder = await rawClient(b);
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
    const next = await rawClient(b);
    expect(await next.publish("dup")).toEqual({ level: "status", code: "NetStream.Publish.Start" });
    expect(await ownerOf(redis, "live/dup")).toBe("b");
  });

  it('is taken over by a publish on another node under publish_conflict: "replace", and the first is closed', async () => {
    const [a, b] = await twoNodes("replace");
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
  });

  it("is listed in /api/cluster under its node, and /metrics shows the registry up", async () => {
    const [a, b] = await twoNodes();
    expect((await (await rawClient(a)).publish("one")).code).toBe("NetStream.Publish.Start");
    expect((await (await rawClient(b)).publish("two")).code).toBe("NetStream.Publish.Start");
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
  });
});
