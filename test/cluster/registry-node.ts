/**
 * A cluster node that is only a Redis registry, as a process of its own, so that a test can kill it with
 * SIGKILL: `bun registry-node.ts REDIS_URL NODE_ID KEY`. It claims KEY with short timings, prints "claimed",
 * and keeps its record and claim alive until it is killed.
 */
import { RedisRegistry } from "../../src/cluster/redis-registry.ts";
import { waitFor } from "../../support/wait.ts";
import { capturedLog } from "../helpers/log-capture.ts";
import { SHORT_TIMINGS } from "./timings.ts";

const [url, nodeId, key] = process.argv.slice(2);
const registry = new RedisRegistry({ url, nodeId, advertise: "rtmp://127.0.0.1:1", timings: SHORT_TIMINGS }, capturedLog().log, () => 0);
registry.start();
await waitFor(async () => registry.state === "up" && (await registry.claim(key, false)).ok, 10_000, `a claim of ${key}`);
console.log("claimed");
