/** Registry timings for tests: a dead node's record expires in a second instead of ten. */
import type { RedisTimings } from "../../src/cluster/redis-registry.ts";

export const SHORT_TIMINGS: RedisTimings = {
  heartbeatMs: 200,
  nodeTtlMs: 1_000,
  claimTtlMs: 1_500,
  commandTimeoutMs: 500,
  retryMs: 200,
};
