/**
 * Pull on demand through the shared registry: two nodes on a real redis-server; a stream published on one is
 * looked up and pulled by the other for its viewers, shown there with the owner's node id as its origin.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { Children } from "../../support/children.ts";
import { waitUntilLive } from "../helpers/live-server.ts";
import { publish, requireFfmpeg } from "../helpers/media.ts";
import { RawRtmpClient, isVideoFrame } from "../helpers/raw-rtmp-client.ts";
import { ownerOf, startNode } from "./redis-nodes.ts";
import { getJson, recordEvents, subscribers } from "./pull-nodes.ts";
import { TestRedis } from "./redis.ts";

describe.skipIf(!requireFfmpeg() || Bun.which("redis-server") === null)("pull on demand through the Redis registry", () => {
  const redis = new TestRedis();
  const children = new Children();
  beforeAll(() => redis.start());
  afterAll(async () => {
    await children.killAll();
    await redis.dispose();
  });

  it("pulls a stream published on one node for the viewers of another, from the owner the registry names", async () => {
    const owner = await startNode(redis, "owner-1");
    const edge = await startNode(redis, "edge-1");
    const viewer = await RawRtmpClient.connect(edge.port).catch(async (error: unknown) => {
      await Promise.all([owner.stop(), edge.stop()]);
      throw error;
    });
    try {
      const edgeEvents = recordEvents(edge);
      publish(children, await testSource({ seconds: 30 }), owner.url("reg"));
      await waitUntilLive(owner.port, "reg");
      await waitFor(async () => (await ownerOf(redis, "live/reg")) === "owner-1", 10_000, "owner-1's claim of live/reg");

      await viewer.play("reg");
      await viewer.waitFor(isVideoFrame, 10_000, "a video frame pulled from owner-1");
      expect(subscribers(owner, "live/reg")).toBe(1);
      expect(edgeEvents.filter((e) => e.type === "pull_start").map((e) => e.data.from)).toEqual(["owner-1"]);
      const { streams } = await getJson<{ streams: { key: string; origin: string | null }[] }>(edge, "/api/streams");
      expect(streams.find((s) => s.key === "live/reg")?.origin).toBe("owner-1");
      // The pull holds no claim: the key stays the owner's.
      expect(await ownerOf(redis, "live/reg")).toBe("owner-1");
    } finally {
      viewer.close();
      await Promise.all([owner.stop(), edge.stop()]);
    }
  }, 60_000);
});
