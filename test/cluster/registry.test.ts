/**
 * The Redis registry against a real redis-server: node records with a TTL, atomic claims, compare-and-delete,
 * takeover of a dead node's claims and of a live one's (replace), and what a node does while Redis is gone.
 */
import { describe, expect } from "bun:test";
import { join } from "node:path";
import { NODE_PREFIX, RedisRegistry, STREAM_PREFIX } from "../../src/cluster/redis-registry.ts";
import { waitFor, within } from "../../support/wait.ts";
import { capturedLog, type LogCapture } from "../helpers/log-capture.ts";
import { RedisScope, redisTests } from "./redis.ts";
import { SHORT_TIMINGS } from "./timings.ts";

// Longer than the longest bounded wait inside a test, so that a failing wait reports itself.
const TEST_MS = 30_000;

/** A test's Redis and the registries it started on it, each with its log; stopped after the test. */
class RegistryTest extends RedisScope {
  readonly logs = new Map<RedisRegistry, LogCapture>();

  /** A started registry for node `id`, advertising rtmp://{id}.example:1935. */
  node(id: string, timings = SHORT_TIMINGS): RedisRegistry {
    const captured = capturedLog();
    const advertise = `rtmp://${id}.example:1935`;
    const registry = new RedisRegistry({ url: this.redis.url, nodeId: id, advertise, timings }, captured.log, () => 7);
    this.logs.set(registry, captured.logs);
    this.defer(() => registry.stop());
    registry.start();
    return registry;
  }
}

/** The keys `registry` reports lost, as they come. */
function losses(registry: RedisRegistry): string[] {
  const lost: string[] = [];
  registry.onLost = (key) => lost.push(key);
  return lost;
}

async function up(...registries: RedisRegistry[]): Promise<void> {
  await waitFor(() => registries.every((r) => r.state === "up"), 5_000, "the registries to reach redis");
}

const tests = redisTests(() => new RegistryTest());

describe("the Redis registry", () => {
  tests.it("keeps a node record with a short TTL: its advertise URL and load", async (t) => {
    const a = t.node("a");
    await up(a);
    await waitFor(async () => (await t.redis.get(`${NODE_PREFIX}a`)) !== null, 2_000, "a's record");
    expect(JSON.parse((await t.redis.get(`${NODE_PREFIX}a`))!)).toEqual({ advertise: "rtmp://a.example:1935", load: 7 });
    const ttl = (await t.redis.send("PTTL", [`${NODE_PREFIX}a`])) as number;
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SHORT_TIMINGS.nodeTtlMs);
  }, TEST_MS);

  tests.it("gives a stream key to the first node that claims it, and names that owner to the others", async (t) => {
    const [a, b] = [t.node("a"), t.node("b")];
    await up(a, b);
    expect(await a.claim("live/x", false)).toEqual({ ok: true });
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBe("a");
    const claimTtl = (await t.redis.send("PTTL", [`${STREAM_PREFIX}live/x`])) as number;
    expect(claimTtl).toBeGreaterThan(0);
    expect(claimTtl).toBeLessThanOrEqual(SHORT_TIMINGS.claimTtlMs);

    expect(await b.claim("live/x", false)).toEqual({ ok: false, owner: { nodeId: "a", advertise: "rtmp://a.example:1935" } });
    // Claiming again what it holds is fine (a second local publisher is the local registry's business).
    expect(await a.claim("live/x", false)).toEqual({ ok: true });
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBe("a");
  }, TEST_MS);

  tests.it("answers lookups with the live owner, never with the asking node itself", async (t) => {
    const [a, b] = [t.node("a"), t.node("b")];
    await up(a, b);
    await a.claim("live/x", false);
    expect(await b.lookup("live/x")).toEqual({ nodeId: "a", advertise: "rtmp://a.example:1935" });
    expect(await a.lookup("live/x")).toBeNull();
    expect(await b.lookup("live/nobody")).toBeNull();
  }, TEST_MS);

  tests.it("keeps claims alive while their node beats", async (t) => {
    const a = t.node("a");
    await up(a);
    await a.claim("live/x", false);
    await t.redis.refreshes(`${STREAM_PREFIX}live/x`, 3);
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBe("a");
    expect(await t.redis.get(`${NODE_PREFIX}a`)).not.toBeNull();
  }, TEST_MS);

  tests.it("releases only its own claim (compare-and-delete)", async (t) => {
    const a = t.node("a");
    await up(a);
    await a.claim("live/x", false);
    await a.claim("live/y", false);
    // Someone else's claim under the same key: a's release must leave it.
    await t.redis.send("SET", [`${STREAM_PREFIX}live/y`, "z"]);
    await a.release("live/x");
    await a.release("live/y");
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBeNull();
    expect(await t.redis.get(`${STREAM_PREFIX}live/y`)).toBe("z");
  }, TEST_MS);

  tests.it("takes a claim over from a live owner with replace, and the old owner hears it lost", async (t) => {
    const [a, b] = [t.node("a"), t.node("b")];
    await up(a, b);
    const lost = losses(a);
    await a.claim("live/x", false);
    expect(await b.claim("live/x", true)).toEqual({ ok: true });
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBe("b");
    await waitFor(() => lost.length > 0, 5_000, "a to notice it lost live/x");
    expect(lost).toEqual(["live/x"]);
    // a no longer holds it: its beats leave b's claim alone, and its release cannot remove it.
    await a.release("live/x");
    await t.redis.refreshes(`${NODE_PREFIX}a`, 3);
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBe("b");
  }, TEST_MS);

  tests.it("tells the old owner over pub/sub, so that it need not wait for its next beat to hear it", async (t) => {
    // Beats a minute apart: only the message can tell a in time.
    const a = t.node("a", { ...SHORT_TIMINGS, heartbeatMs: 60_000 });
    const b = t.node("b");
    await up(a, b);
    const lost = losses(a);
    await a.claim("live/x", false);
    await b.claim("live/x", true);
    await waitFor(() => lost.length > 0, 5_000, "a to hear live/x was taken over");
    expect(lost).toEqual(["live/x"]);
  }, TEST_MS);

  tests.it("treats the claim of a node whose record is gone as void: a killed node blocks its keys for about its TTL", async (t) => {
    const b = t.node("b");
    await up(b);
    const dead = t.children.spawn("registry node a", [process.execPath, join(import.meta.dir, "registry-node.ts"), t.redis.url, "a", "live/x"]);
    await waitFor(() => dead.stdout.includes("claimed") || !dead.running, 10_000, "node a to claim live/x", () => dead.describe());
    expect(await b.claim("live/x", false)).toEqual({ ok: false, owner: { nodeId: "a", advertise: "rtmp://127.0.0.1:1" } });

    dead.kill("SIGKILL");
    await dead.waitExit(5_000);
    await waitFor(async () => (await b.claim("live/x", false)).ok, 5_000, "a's claim to be void once its record expired");
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBe("b");
    expect(await b.lookup("live/x")).toBeNull();
  }, TEST_MS);

  tests.it("lists the live nodes and their streams", async (t) => {
    const [a, b] = [t.node("a"), t.node("b")];
    await up(a, b);
    await Promise.all([a.claim("live/x", false), a.claim("live/a2", false), b.claim("live/y", false)]);
    await waitFor(async () => (await a.nodes()).length === 2, 2_000, "both records");
    expect(await b.nodes()).toEqual([
      { nodeId: "a", advertise: "rtmp://a.example:1935", streams: ["live/a2", "live/x"] },
      { nodeId: "b", advertise: "rtmp://b.example:1935", streams: ["live/y"] },
    ]);
  }, TEST_MS);

  tests.it("removes its claims and its record when it stops", async (t) => {
    const [a, b] = [t.node("a"), t.node("b")];
    await up(a, b);
    await a.claim("live/x", false);
    await b.claim("live/y", false);
    await a.stop();
    expect(await t.redis.keys()).toEqual([`${NODE_PREFIX}b`, `${STREAM_PREFIX}live/y`]);
    expect(await b.claim("live/x", false)).toEqual({ ok: true });
  }, TEST_MS);
});

describe("the Redis registry without Redis", () => {
  tests.it("lets publishes through and finds nothing, at once, then registers again with its streams when Redis returns", async (t) => {
    const [a, b] = [t.node("a"), t.node("b")];
    await up(a, b);
    await a.claim("live/x", false);
    await t.redis.stop();
    await waitFor(() => a.state === "down", 5_000, "a to see redis gone");

    // Nothing hangs: a publish's claim passes, a lookup finds nothing, both within a bound.
    expect(await within(a.claim("live/while-down", false), 1_000, "a claim without redis")).toEqual({ ok: true });
    expect(await within(a.lookup("live/y"), 1_000, "a lookup without redis")).toBeNull();
    expect(await within(a.nodes(), 1_000, "the node list without redis")).toEqual([
      { nodeId: "a", advertise: "rtmp://a.example:1935", streams: ["live/while-down", "live/x"] },
    ]);
    expect(t.logs.get(a)!.records().filter((r) => r.msg?.startsWith("cluster registry unreachable"))).toHaveLength(1);

    await t.redis.start();
    // Nothing was saved: the node writes its record and claims again by itself.
    await waitFor(() => a.state === "up" && b.state === "up", 5_000, "the nodes to reconnect", () => t.logs.get(a)!.tail());
    await waitFor(
      async () => (await t.redis.keys()).join() === [`${NODE_PREFIX}a`, `${NODE_PREFIX}b`, `${STREAM_PREFIX}live/while-down`, `${STREAM_PREFIX}live/x`].join(),
      5_000,
      "a's record and claims to be back",
    );
    expect(await b.lookup("live/x")).toEqual({ nodeId: "a", advertise: "rtmp://a.example:1935" });
  }, TEST_MS);

  tests.it("does not wait on a Redis that stops answering: lookups fail within the command timeout", async (t) => {
    const a = t.node("a");
    await up(a);
    await a.claim("live/x", false);
    const pid = Number((await t.redis.send("INFO", ["server"]) as string).match(/process_id:(\d+)/)![1]);
    process.kill(pid, "SIGSTOP");
    try {
      expect(await within(a.lookup("live/y"), 2_000, "a lookup from a hung redis")).toBeNull();
      expect(a.state).toBe("down");
      expect(await within(a.claim("live/z", false), 1_000, "a claim with redis hung")).toEqual({ ok: true });
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await waitFor(() => a.state === "up", 5_000, "a to reconnect");
    await waitFor(async () => (await t.redis.get(`${STREAM_PREFIX}live/z`)) === "a", 5_000, "the claim made while redis hung");
  }, TEST_MS);

  tests.it("keeps a claim another node took while it was away from Redis: the one here is lost", async (t) => {
    const [a, b] = [t.node("a"), t.node("b")];
    await up(a, b);
    const lost = losses(a);
    await a.claim("live/x", false);
    await t.redis.stop();
    await t.redis.start();
    // b gets there first (a retries every 200 ms; b claims as soon as it is up again).
    await waitFor(() => b.state === "up", 5_000, "b to reconnect");
    await t.redis.send("SET", [`${STREAM_PREFIX}live/x`, "b"]);
    await t.redis.send("SET", [`${NODE_PREFIX}b`, JSON.stringify({ advertise: "rtmp://b.example:1935", load: 0 })]);
    await waitFor(() => lost.length > 0, 5_000, "a to find live/x taken");
    expect(lost).toEqual(["live/x"]);
    expect(await t.redis.get(`${STREAM_PREFIX}live/x`)).toBe("b");
  }, TEST_MS);
});
