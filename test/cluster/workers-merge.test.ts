/**
 * The pure parts of workers: the registry the supervisor keeps for them (claims, takeover, release, a worker
 * leaving), the merge of their /metrics (exact text), and the fold of their /api/streams (a pulled copy shows
 * once, as the owner's, its viewers added and the pull itself taken off the owner's players).
 */
import { describe, expect, it } from "bun:test";
import { SupervisorClaims } from "../../src/cluster/supervisor-claims.ts";
import { decodeWorkerStart, encodeWorkerStart } from "../../src/cluster/worker-node.ts";
import { mergeExpositions } from "../../src/http/prometheus-text.ts";
import { foldCopies, type WorkerStream } from "../../src/http/whole-server.ts";

const W0 = { nodeId: "m:1935/w0", advertise: "rtmp://127.0.0.1:40000" };
const W1 = { nodeId: "m:1935/w1", advertise: "rtmp://127.0.0.1:40001" };

describe("the supervisor's registry", () => {
  function twoWorkers(): SupervisorClaims {
    const claims = new SupervisorClaims();
    claims.join(0, W0);
    claims.join(1, W1);
    return claims;
  }

  it("gives a key to its first claimer, refuses another worker, and finds the owner for the others", () => {
    const claims = twoWorkers();
    expect(claims.claim(0, "live/a", false)).toEqual({ ok: true, displaced: null });
    expect(claims.claim(0, "live/a", false)).toEqual({ ok: true, displaced: null });
    expect(claims.claim(1, "live/a", false)).toEqual({ ok: false, owner: W0 });
    expect(claims.lookup(1, "live/a")).toEqual(W0);
    expect(claims.lookup(0, "live/a")).toBeNull();
    expect(claims.lookup(1, "live/none")).toBeNull();
  });

  it("lets a replacing claim take the key, naming the worker that lost it", () => {
    const claims = twoWorkers();
    claims.claim(0, "live/a", false);
    expect(claims.claim(1, "live/a", true)).toEqual({ ok: true, displaced: 0 });
    expect(claims.lookup(0, "live/a")).toEqual(W1);
  });

  it("releases only the releasing worker's own claim", () => {
    const claims = twoWorkers();
    claims.claim(0, "live/a", false);
    claims.release(1, "live/a");
    expect(claims.lookup(1, "live/a")).toEqual(W0);
    claims.release(0, "live/a");
    expect(claims.lookup(1, "live/a")).toBeNull();
  });

  it("forgets a worker that left, with its claims, and lists the others with theirs", () => {
    const claims = twoWorkers();
    claims.claim(0, "live/b", false);
    claims.claim(0, "live/a", false);
    claims.claim(1, "live/c", false);
    expect(claims.list()).toEqual([
      { ...W0, streams: ["live/a", "live/b"] },
      { ...W1, streams: ["live/c"] },
    ]);
    claims.leave(0);
    expect(claims.lookup(1, "live/a")).toBeNull();
    expect(claims.claim(1, "live/a", false)).toEqual({ ok: true, displaced: null });
    expect(claims.list()).toEqual([{ ...W1, streams: ["live/a", "live/c"] }]);
  });
});

describe("a worker's start", () => {
  it("reads back what the supervisor wrote, and nothing that is not its", () => {
    const start = { index: 1, count: 2, ports: { rtmp: 1935, rtmps: null, http: 8080 }, secret: "" };
    expect(decodeWorkerStart(encodeWorkerStart(start))).toEqual(start);
    expect(decodeWorkerStart(undefined)).toBeNull();
    expect(decodeWorkerStart("1")).toBeNull();
    expect(decodeWorkerStart("{")).toBeNull();
  });
});

describe("merging the workers' /metrics", () => {
  /** A worker's exposition as Exposition writes it: the families the merge treats each its own way. */
  function exposition(start: number, players: string[], lag: { buckets: [number, number]; sum: number; count: number }): string {
    return [
      "# HELP rtmp_build_info Version.",
      "# TYPE rtmp_build_info gauge",
      'rtmp_build_info{version="0.1.0"} 1',
      "# HELP rtmp_start_time_seconds Start.",
      "# TYPE rtmp_start_time_seconds gauge",
      `rtmp_start_time_seconds ${start}`,
      "# HELP rtmp_players_by_protocol Players.",
      "# TYPE rtmp_players_by_protocol gauge",
      ...players,
      "# HELP rtmp_lag_seconds Lag.",
      "# TYPE rtmp_lag_seconds histogram",
      `rtmp_lag_seconds_bucket{le="0.1"} ${lag.buckets[0]}`,
      `rtmp_lag_seconds_bucket{le="+Inf"} ${lag.buckets[1]}`,
      `rtmp_lag_seconds_sum ${lag.sum}`,
      `rtmp_lag_seconds_count ${lag.count}`,
      "",
    ].join("\n");
  }
  const w0 = exposition(1700000002, ['rtmp_players_by_protocol{protocol="rtmp"} 2'], { buckets: [1, 2], sum: 0.5, count: 2 });
  const w1 = exposition(1700000001, ['rtmp_players_by_protocol{protocol="http-flv"} 3', 'rtmp_players_by_protocol{protocol="rtmp"} 1'], {
    buckets: [0, 1],
    sum: 0.25,
    count: 1,
  });

  it("sums each series (histograms bucket by bucket), and merges the ones that are no sum their own way", () => {
    expect(mergeExpositions([w0, w1], { rtmp_build_info: Math.max, rtmp_start_time_seconds: Math.min })).toBe(
      exposition(1700000001, ['rtmp_players_by_protocol{protocol="rtmp"} 3', 'rtmp_players_by_protocol{protocol="http-flv"} 3'], {
        buckets: [1, 3],
        sum: 0.75,
        count: 3,
      }),
    );
  });

  it("leaves one worker's exposition as it was", () => {
    expect(mergeExpositions([w0])).toBe(w0);
  });

  it("keeps a label value with spaces and escapes whole", () => {
    const text = ['# HELP rtmp_x X.', "# TYPE rtmp_x gauge", 'rtmp_x{stream="live/a b\\"c"} 2', ""].join("\n");
    expect(mergeExpositions([text, text])).toBe(text.replace("} 2", "} 4"));
  });
});

describe("folding the workers' streams", () => {
  function stream(worker: number, origin: string | null, players: Record<string, number>, bytesOut: number): WorkerStream {
    const count = Object.values(players).reduce((a, b) => a + b, 0);
    return { key: "live/a", origin, worker, players: count, players_by_protocol: players, bytes_out: bytesOut } as unknown as WorkerStream;
  }

  it("shows a copy pulled from the owner once, as the owner's, with the copy's viewers and without the pull", () => {
    // Worker 0 publishes; its 2 RTMP players are a viewer and worker 1's pull. Worker 1 has 3 viewers.
    const folded = foldCopies([
      { nodeId: W1.nodeId, streams: [stream(1, W0.nodeId, { rtmp: 1, "http-flv": 2 }, 300)] },
      { nodeId: W0.nodeId, streams: [stream(0, null, { rtmp: 2 }, 200)] },
    ]);
    expect(folded).toEqual([stream(0, null, { rtmp: 2, "http-flv": 2 }, 500)]);
  });

  it("adds up copies that every worker pulls from another node, keeping the first", () => {
    const folded = foldCopies([
      { nodeId: W0.nodeId, streams: [stream(0, "rtmp://origin:1935", { rtmp: 1 }, 10)] },
      { nodeId: W1.nodeId, streams: [stream(1, "rtmp://origin:1935", { rtmp: 2 }, 20)] },
    ]);
    expect(folded).toEqual([stream(0, "rtmp://origin:1935", { rtmp: 3 }, 30)]);
  });
});
