/**
 * PublishClaims, the access check that holds a publish's stream key for the cluster, against a real Redis
 * registry and the real stream registry: what it claims, when it gives a claim back, and whom it closes.
 */
import { describe, expect } from "bun:test";
import { PublishClaims } from "../../src/cluster/publish-claims.ts";
import { RedisRegistry, STREAM_PREFIX } from "../../src/cluster/redis-registry.ts";
import { EventChannel } from "../../src/events/events.ts";
import type { AuthDecision, AuthRequest } from "../../src/shared/access.ts";
import { ServerStats } from "../../src/shared/server-stats.ts";
import { StreamRegistry } from "../../src/streams/registry.ts";
import { waitFor } from "../../support/wait.ts";
import { capturedLog } from "../helpers/log-capture.ts";
import { FakePeer, SETTINGS, streamName } from "../streams/harness.ts";
import { ownerOf } from "./redis-nodes.ts";
import { RedisScope, redisTests } from "./redis.ts";
import { SHORT_TIMINGS } from "./timings.ts";

const TEST_MS = 30_000;

/** Node `id`'s registry in the test's Redis, stopped after the test. */
function cluster(t: RedisScope, id: string): RedisRegistry {
  const registry = new RedisRegistry({ url: t.redis.url, nodeId: id, advertise: `rtmp://${id}.example:1935`, timings: SHORT_TIMINGS }, capturedLog().log, () => 0);
  t.defer(() => registry.stop());
  registry.start();
  return registry;
}

/** Node `id`: its stream registry, and its claims in front of an authorizer that allows all but "live/denied". */
async function node(t: RedisScope, id: string, conflict: "reject" | "replace" = "reject") {
  const { log } = capturedLog();
  const events = new EventChannel(log);
  const streams = new StreamRegistry({ ...SETTINGS, publishConflict: conflict }, { log, events, outputs: () => [], stats: new ServerStats() });
  const allowAlmostAll = { check: (r: AuthRequest): AuthDecision => (r.streamKey === "live/denied" ? { allowed: false, reason: "no" } : { allowed: true }) };
  const claims = new PublishClaims(allowAlmostAll, streams, events, conflict === "replace", log);
  const registry = cluster(t, id);
  claims.join(registry);
  await waitFor(() => registry.state === "up", 5_000, `${id} to reach redis`);
  /** What a session does: ask, then publish if allowed. */
  const publish = async (peer: FakePeer, key: string): Promise<AuthDecision> => {
    const decision = await claims.check(request(key));
    if (decision.allowed) streams.publish(peer, streamName(key));
    return decision;
  };
  return { claims, streams, registry, publish };
}

function request(key: string): AuthRequest {
  const [app, name] = key.split("/");
  return { action: "publish", app, name, streamKey: key, query: {}, clientIp: "127.0.0.1" };
}

describe("a publish's claim", () => {
  const tests = redisTests(() => new RedisScope());

  tests.it("is made only once auth allowed the publish, and refuses a key held elsewhere as in use", async (t) => {
    const [a, b] = [await node(t, "a"), await node(t, "b")];
    expect(await a.claims.check(request("live/denied"))).toEqual({ allowed: false, reason: "no" });
    expect(await ownerOf(t.redis, "live/denied")).toBeNull();
    expect(await a.publish(new FakePeer("p1"), "live/x")).toEqual({ allowed: true });
    expect(await b.publish(new FakePeer("p2"), "live/x")).toEqual({ allowed: false, reason: "live/x is already publishing on another node", inUse: true });
    // Plays are not claimed.
    expect(await b.claims.check({ ...request("live/x"), action: "play" })).toEqual({ allowed: true });
  }, TEST_MS);

  tests.it("is given back when the publish it was made for never started (the client left while it was asked)", async (t) => {
    const a = await node(t, "a");
    expect(await a.claims.check(request("live/x"))).toEqual({ allowed: true });
    await waitFor(async () => (await ownerOf(t.redis, "live/x")) === null, 5_000, "the unused claim to go");
  }, TEST_MS);

  tests.it("stays through a takeover on the same node, and goes when the publish ends", async (t) => {
    const a = await node(t, "a", "replace");
    const [first, second] = [new FakePeer("p1"), new FakePeer("p2")];
    await a.publish(first, "live/x");
    await a.publish(second, "live/x");
    expect(first.closed?.reason).toBe("replaced by a new publisher");
    // The first publication's publish_stop did not give the key away: the node still refreshes it.
    await t.redis.refreshes(`${STREAM_PREFIX}live/x`, 1);
    expect(await ownerOf(t.redis, "live/x")).toBe("a");
    a.streams.streams.get("live/x")!.unpublish();
    await waitFor(async () => (await ownerOf(t.redis, "live/x")) === null, 5_000, "the claim to go with the publish");
  }, TEST_MS);

  tests.it("lost to another node closes the publisher here", async (t) => {
    const a = await node(t, "a");
    const b = await node(t, "b", "replace");
    const publisher = new FakePeer("p1");
    await a.publish(publisher, "live/x");
    expect(await b.publish(new FakePeer("p2"), "live/x")).toEqual({ allowed: true });
    await waitFor(() => publisher.closed !== null, 5_000, "a's publisher to be closed");
    expect(publisher.closed?.reason).toBe("published on another node");
    expect(await ownerOf(t.redis, "live/x")).toBe("b");
  }, TEST_MS);
});
