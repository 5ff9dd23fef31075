/**
 * A node and its Redis registry under faults, with a real redis-server, real server processes and FFmpeg:
 * Redis gone (local publish and play go on, lookups fail fast) and back (registered again within 5 s, its
 * streams claimed), SIGTERM (its claims gone before it exits), SIGKILL (its claims void once its record expires).
 */
import { describe, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_PREFIX, STREAM_PREFIX } from "../../src/cluster/redis-registry.ts";
import { publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import type { Child } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor, within } from "../../support/wait.ts";
import { ClusterScope, ownerOf, registryUp } from "./redis-nodes.ts";
import { redisTests } from "./redis.ts";

const TEST_MS = 60_000;
const CLI = join(import.meta.dir, "../../src/cli.ts");

/** A cluster test that also runs nodes as processes (in `children`), their configs in a scratch directory. */
class RegistryFaults extends ClusterScope {
  private readonly scratch = scratchDir("registry-faults");

  constructor() {
    super();
    this.defer(() => this.scratch.remove());
  }

  /** The server as its own process (`bun src/cli.ts`), node `id` of the cluster; resolves once it is registered. */
  async nodeProcess(id: string): Promise<{ child: Child; port: number }> {
    const port = freePort();
    const config = join(this.scratch.path, `${id}.yaml`);
    writeFileSync(config, `listen: "127.0.0.1:${port}"\ncluster:\n  node_id: ${id}\n  redis: "${this.redis.url}"\n`);
    const child = this.children.spawn(`node ${id}`, [process.execPath, CLI, "--config", config]);
    await waitFor(async () => (await this.redis.get(NODE_PREFIX + id)) !== null || !child.running, 10_000, `${id} to register`, () => child.describe());
    if (!child.running) throw new Error(`node ${id} exited\n${child.describe()}`);
    return { child, port };
  }

  async rawPublish(port: number, name: string): Promise<string | undefined> {
    return (await (await this.rawClient(port)).publish(name)).code;
  }
}

describe.skipIf(!requireFfmpeg())("a cluster node", () => {
  const tests = redisTests(() => new RegistryFaults());

  tests.it("that is killed holds its streams only until its record expires, then they may be published elsewhere", async (t) => {
    const { redis } = t;
    const { child, port } = await t.nodeProcess("p");
    const b = await t.node("b");
    const source = await testSource({ seconds: 30 });
    publish(t.children, source, `rtmp://127.0.0.1:${port}/live/x`);
    await waitFor(async () => (await ownerOf(redis, "live/x")) === "p", 10_000, "p's claim of live/x", () => child.describe());

    child.kill("SIGKILL");
    await child.waitExit(5_000);
    // Its record lives on for up to its TTL (10 s): the key is still p's...
    expect(await t.rawPublish(b.port, "x")).toBe("NetStream.Publish.BadName");
    // ...and then the claim is void.
    await waitFor(async () => (await b.server.cluster!.lookup("live/x")) === null, 15_000, "p's claim to be void");
    expect(await t.rawPublish(b.port, "x")).toBe("NetStream.Publish.Start");
    expect(await ownerOf(redis, "live/x")).toBe("b");
    expect((await redis.keys()).filter((k) => k.startsWith(STREAM_PREFIX))).toEqual([`${STREAM_PREFIX}live/x`]);
  }, TEST_MS);

  tests.it("publishes and plays without Redis, finds nothing elsewhere at once, and registers again when Redis returns", async (t) => {
    const { redis } = t;
    const a = await t.node("a");
    expect(await registryUp(a)).toBe(1);
    await redis.stop();
    await waitFor(() => a.server.cluster?.state === "down", 5_000, "a to see redis gone");
    expect(await registryUp(a)).toBe(0);

    // Local publish and play go on.
    const source = await testSource({ seconds: 30 });
    const publisher = publish(t.children, source, a.url("x"));
    await a.waitUntilLive("x");
    // A lookup of a stream published elsewhere ends at once, with nothing.
    expect(await within(a.server.cluster!.lookup("live/elsewhere"), 1_000, "a lookup without redis")).toBeNull();

    await redis.start();
    await waitFor(async () => (await ownerOf(redis, "live/x")) === "a", 5_000, "a's claim of live/x back within 5 s", () => a.logs.tail());
    expect(await redis.get(`${NODE_PREFIX}a`)).not.toBeNull();
    expect(await registryUp(a)).toBe(1);
    expect(publisher.running).toBe(true);
    const messages = a.logs.records().map((r) => r.msg);
    expect(messages).toContain("cluster registry unreachable: publishing and playing go on here, other nodes' streams are not found");
    expect(messages.filter((m) => m === "cluster registry up")).toHaveLength(2);
  }, TEST_MS);

  tests.it("removes its claims and its record on SIGTERM, before it exits", async (t) => {
    const { redis } = t;
    const { child, port } = await t.nodeProcess("p");
    const source = await testSource({ seconds: 30 });
    publish(t.children, source, `rtmp://127.0.0.1:${port}/live/x`);
    await waitFor(async () => (await ownerOf(redis, "live/x")) === "p", 10_000, "p's claim of live/x", () => child.describe());

    child.kill("SIGTERM");
    expect(await child.waitExit(15_000), child.describe()).toBe(0);
    expect(await redis.keys()).toEqual([]);
  }, TEST_MS);
});
