/**
 * A node and its Redis registry under faults, with a real redis-server, real server processes and FFmpeg:
 * Redis gone (local publish and play go on, lookups fail fast) and back (registered again within 5 s, its
 * streams claimed), SIGTERM (its claims gone before it exits), SIGKILL (its claims void once its record expires).
 */
import { afterAll, afterEach, describe, expect, it, setDefaultTimeout } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_PREFIX, STREAM_PREFIX } from "../../src/cluster/redis-registry.ts";
import type { TestServer } from "../helpers/live-server.ts";
import { publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";
import { type Child, Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor, within } from "../../support/wait.ts";
import { ownerOf, registryUp, startNode } from "./redis-nodes.ts";
import { redisForTests } from "./redis.ts";

setDefaultTimeout(60_000);

const CLI = join(import.meta.dir, "../../src/cli.ts");
const redis = redisForTests();
const scratch = scratchDir("registry-faults");
afterAll(() => scratch.remove());

const children = new Children();
let nodes: TestServer[] = [];
const clients: RawRtmpClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await children.killAll();
  await Promise.all(nodes.map((n) => n.stop()));
  nodes = [];
  if (!(await redisRunning())) await redis.start();
  await redis.send("FLUSHALL", []);
});

async function redisRunning(): Promise<boolean> {
  try {
    return (await within(redis.send("PING", []), 1_000, "PING")) === "PONG";
  } catch {
    return false;
  }
}

async function node(id: string): Promise<TestServer> {
  const started = await startNode(redis, id);
  nodes.push(started);
  await waitFor(() => started.server.cluster?.state === "up", 5_000, `${id} to reach redis`);
  return started;
}

/** The server as its own process (`bun src/cli.ts`), node `id` of the cluster; resolves once it is registered. */
async function nodeProcess(id: string): Promise<{ child: Child; port: number }> {
  const port = freePort();
  const config = join(scratch.path, `${id}.yaml`);
  writeFileSync(config, `listen: "127.0.0.1:${port}"\ncluster:\n  node_id: ${id}\n  redis: "${redis.url}"\n`);
  const child = children.spawn(`node ${id}`, [process.execPath, CLI, "--config", config]);
  await waitFor(async () => (await redis.get(NODE_PREFIX + id)) !== null || !child.running, 10_000, `${id} to register`, () => child.describe());
  if (!child.running) throw new Error(`node ${id} exited\n${child.describe()}`);
  return { child, port };
}

async function rawPublish(port: number, name: string): Promise<string | undefined> {
  const client = await RawRtmpClient.connect(port);
  clients.push(client);
  return (await client.publish(name)).code;
}

describe.skipIf(!requireFfmpeg())("a cluster node", () => {
  it("publishes and plays without Redis, finds nothing elsewhere at once, and registers again when Redis returns", async () => {
    const a = await node("a");
    expect(await registryUp(a)).toBe(1);
    await redis.stop();
    await waitFor(() => a.server.cluster?.state === "down", 5_000, "a to see redis gone");
    expect(await registryUp(a)).toBe(0);

    // Local publish and play go on.
    const source = await testSource({ seconds: 30 });
    const publisher = publish(children, source, a.url("x"));
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
  });

  it("removes its claims and its record on SIGTERM, before it exits", async () => {
    const { child, port } = await nodeProcess("p");
    const source = await testSource({ seconds: 30 });
    publish(children, source, `rtmp://127.0.0.1:${port}/live/x`);
    await waitFor(async () => (await ownerOf(redis, "live/x")) === "p", 10_000, "p's claim of live/x", () => child.describe());

    child.kill("SIGTERM");
    expect(await child.waitExit(15_000), child.describe()).toBe(0);
    expect(await redis.keys()).toEqual([]);
  });

  it("that is killed holds its streams only until its record expires, then they may be published elsewhere", async () => {
    const { child, port } = await nodeProcess("p");
    const b = await node("b");
    const source = await testSource({ seconds: 30 });
    publish(children, source, `rtmp://127.0.0.1:${port}/live/x`);
    await waitFor(async () => (await ownerOf(redis, "live/x")) === "p", 10_000, "p's claim of live/x", () => child.describe());

    child.kill("SIGKILL");
    await child.waitExit(5_000);
    // Its record lives on for up to its TTL (10 s): the key is still p's...
    expect(await rawPublish(b.port, "x")).toBe("NetStream.Publish.BadName");
    // ...and then the claim is void.
    await waitFor(async () => (await b.server.cluster!.lookup("live/x")) === null, 15_000, "p's claim to be void");
    expect(await rawPublish(b.port, "x")).toBe("NetStream.Publish.Start");
    expect(await ownerOf(redis, "live/x")).toBe("b");
    expect((await redis.keys()).filter((k) => k.startsWith(STREAM_PREFIX))).toEqual([`${STREAM_PREFIX}live/x`]);
  });
});
