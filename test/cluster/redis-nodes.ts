/**
 * Cluster nodes for the tests: in-process servers on 127.0.0.1 that share one test Redis, with HTTP on, and
 * the few questions the tests ask them (who owns a key in Redis, what /metrics says of the registry).
 */
import { startTestServer, type TestServer } from "../helpers/live-server.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";
import type { Config } from "../../src/config/config.ts";
import { STREAM_PREFIX } from "../../src/cluster/redis-registry.ts";
import { waitFor } from "../../support/wait.ts";
import { httpUrl } from "./pull-nodes.ts";
import { RedisScope, type TestRedis } from "./redis.ts";

/** A node `id` of the cluster kept in `redis`, as changed by `adjust`. */
export function startNode(redis: TestRedis, id: string, adjust?: (config: Config) => void): Promise<TestServer> {
  return startTestServer((c) => {
    c.cluster.redis = redis.url;
    c.cluster.nodeId = id;
    c.http.listen = { host: "127.0.0.1", port: 0 };
    adjust?.(c);
  });
}

/** A test's own Redis, the nodes it started on it and its raw RTMP clients: all gone after the test. */
export class ClusterScope extends RedisScope {
  /** startNode() on the test's Redis; resolves once the node reached it. */
  async node(id: string, adjust?: (config: Config) => void): Promise<TestServer> {
    const node = await startNode(this.redis, id, adjust);
    this.defer(() => node.stop());
    await waitFor(() => node.server.cluster?.state === "up", 5_000, `${id} to reach redis`);
    return node;
  }

  /** A raw RTMP client connected to `port`. */
  async rawClient(port: number): Promise<RawRtmpClient> {
    const client = await RawRtmpClient.connect(port);
    this.defer(() => client.close());
    return client;
  }
}

/** The node id holding `key` in Redis, or null. */
export function ownerOf(redis: TestRedis, key: string): Promise<string | null> {
  return redis.get(STREAM_PREFIX + key);
}

/** GET `path` on the node's HTTP listener. */
export function httpGet(node: TestServer, path: string): Promise<Response> {
  return fetch(httpUrl(node, path));
}

/** rtmp_cluster_registry_up from the node's /metrics, or null when it has none. */
export async function registryUp(node: TestServer): Promise<number | null> {
  const text = await (await httpGet(node, "/metrics")).text();
  const line = /^rtmp_cluster_registry_up (\d+)$/m.exec(text);
  return line === null ? null : Number(line[1]);
}
