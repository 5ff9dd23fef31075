/**
 * The connection lifecycle on its own: a fake transport (a Writable that takes everything or nothing), a real
 * outbox, table, event channel and counters, and explicit times on a fake clock for the deadline check.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from "bun:test";
import { EventChannel, type ServerEvent } from "../../src/events/events.ts";
import type { AuthDecision } from "../../src/shared/access.ts";
import { type Connection, ConnectionTable } from "../../src/shared/connections.ts";
import { type Deadlines, Lifecycle, Phase } from "../../src/shared/lifecycle.ts";
import { Outbox } from "../../src/shared/outbox.ts";
import { ServerStats } from "../../src/shared/server-stats.ts";
import { waitFor } from "../../support/wait.ts";
import { capturedLog } from "../helpers/log-capture.ts";

const DEADLINES: Deadlines = { startMs: 1000, readMs: 600, writeMs: 400, lingerMs: 60_000 };

/** A connection on a fake transport, with everything its lifecycle did to it recorded. */
function connection(options: { deadlines?: Partial<Deadlines>; discardCuts?: boolean; probe?: boolean } = {}) {
  const did: string[] = [];
  const transport = { accepting: true, write: (_d: Uint8Array, _o = 0, length = 0) => (transport.accepting ? length : 0) };
  const outbox = new Outbox(transport);
  const table = new ConnectionTable(10);
  const events = new EventChannel();
  const seen: ServerEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const stats = new ServerStats();
  const { log, logs } = capturedLog("debug");
  const peer: Connection = {
    id: "c000001",
    remoteAddress: "127.0.0.1:5000",
    protocol: "rtmp",
    role: "player",
    streamKey: "live/x",
    since: Date.now(),
    bytesIn: 10,
    get bytesOut() {
      return outbox.bytesSent;
    },
    outbox,
    close: (reason) => life.close(reason),
    tick: (now) => life.check(now),
  };
  const life: Lifecycle = new Lifecycle(
    {
      outbox,
      discardCuts: options.discardCuts ?? false,
      release: () => did.push("release"),
      halfClose: () => did.push("half-close"),
      cut: () => {
        did.push("cut");
        life.ended();
      },
      probe: options.probe === false ? undefined : () => did.push("probe"),
    },
    { ...DEADLINES, ...options.deadlines },
    { connection: peer, table, log, stats, events, forget: () => did.push("forget") },
  );
  const at = (ms: number) => life.startedAt + ms;
  const closed = () => logs.records().filter((r) => r.msg === "connection closed");
  return { life, did, transport, outbox, table, seen, stats, logs, at, closed };
}

describe("Lifecycle: open and end", () => {
  it("joins the table and announces itself when it opens", () => {
    const c = connection();
    expect(c.table.size).toBe(1);
    expect(c.seen.map((e) => [e.type, e.data.protocol, e.data.remote_addr])).toEqual([["connection_accept", "rtmp", "127.0.0.1:5000"]]);
    expect(c.logs.records().map((r) => [r.level, r.msg])).toEqual([["debug", "connection accepted"]]);
  });

  it("flushes, half-closes, then ends with one summary line and one connection_close", () => {
    const c = connection();
    c.life.serve();
    c.outbox.push(new Uint8Array(100));
    c.life.close("done here");
    expect(c.did).toEqual(["release", "half-close"]);
    expect(c.outbox.bytesSent).toBe(100);
    c.life.close("again");
    c.life.ended();
    c.life.ended();
    // The summary is of the moment it closed; the event, of the end.
    expect(c.closed().map((r) => [r.reason, r.bytes_in, r.bytes_out])).toEqual([["done here", 10, 0]]);
    expect(c.seen.filter((e) => e.type === "connection_close").map((e) => e.data.bytes_out)).toEqual([100]);
    expect(c.stats.closedBytesOut).toBe(100);
    expect(c.table.size).toBe(0);
    expect(c.did).toEqual(["release", "half-close", "forget"]);
    expect(c.life.phase).toBe(Phase.Closed);
  });

  it("half-closes only once the peer has taken what was queued", () => {
    const c = connection();
    c.life.serve();
    c.transport.accepting = false;
    c.outbox.push(new Uint8Array(100));
    c.life.close("done here");
    expect(c.did).toEqual(["release"]);
    c.transport.accepting = true;
    c.life.drained(c.at(10));
    expect(c.did).toEqual(["release", "half-close"]);
  });

  it("says the peer closed when the transport ends first", () => {
    const c = connection();
    c.life.serve();
    c.life.ended();
    expect(c.closed().map((r) => r.reason)).toEqual(["peer closed"]);
    expect(c.did).toEqual(["release", "forget"]);
  });

  it("cuts a close that lingers past its bound, logging the cut at debug only", async () => {
    const c = connection({ deadlines: { lingerMs: 20 } });
    c.life.serve();
    c.life.close("done here");
    await waitFor(() => c.did.includes("cut"), 2_000, "the linger to run out");
    expect(c.did).toEqual(["release", "half-close", "cut", "forget"]);
    expect(c.logs.records().filter((r) => r.level !== "debug").map((r) => r.msg)).toEqual(["connection closed"]);
    expect(c.logs.records().find((r) => r.msg === "connection cut")?.reason).toBe("close timed out");
  });
});

describe("Lifecycle: the deadline check", () => {
  // The deadlines are pinned to the millisecond, so the clock must stand on whole milliseconds: on the real
  // one, (startedAt + 1000) - startedAt can round to a hair over 1000 and close a connection on time. Not at
  // 0 either: the outbox takes 0 for "never blocked".
  beforeEach(() => {
    jest.useFakeTimers();
    jest.advanceTimersByTime(1000);
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it("closes a connection still opening after the start deadline", () => {
    const c = connection();
    c.life.check(c.at(1000));
    const onTime = c.life.phase;
    c.life.check(c.at(1001));
    expect([onTime, c.closed().map((r) => r.reason)]).toEqual([Phase.Opening, ["handshake timeout"]]);
  });

  it("probes a peer silent both ways at half the read budget, and closes it at the full budget", () => {
    const c = connection();
    c.life.serve();
    c.life.check(c.at(300));
    expect(c.did).toEqual([]);
    c.life.check(c.at(301));
    // The kernel taking our own probe proves nothing about the peer.
    c.outbox.lastProgress = c.at(302);
    c.life.check(c.at(600));
    expect([c.did, c.life.phase]).toEqual([["probe"], Phase.Serving]);
    c.life.check(c.at(601));
    expect(c.closed().map((r) => r.reason)).toEqual(["idle for 600 ms"]);
  });

  it("keeps a quiet peer that answers its probe", () => {
    const c = connection();
    c.life.serve();
    c.life.check(c.at(301));
    c.life.received(12, c.at(310));
    c.life.check(c.at(610));
    c.life.check(c.at(611));
    expect(c.did).toEqual(["probe", "probe"]);
    expect(c.life.phase).toBe(Phase.Serving);
  });

  it("counts bytes the peer took as a sign of life, and closes one without a probe at the full budget", () => {
    const c = connection({ probe: false });
    c.life.serve();
    c.outbox.push(new Uint8Array(10));
    c.outbox.flush();
    const tookAt = c.outbox.lastProgress;
    c.life.check(tookAt + 600);
    expect(c.life.phase).toBe(Phase.Serving);
    c.life.check(tookAt + 601);
    expect(c.closed().map((r) => r.reason)).toEqual(["idle for 600 ms"]);
    expect(c.did).toEqual(["release", "half-close"]);
  });

  it("drops a peer whose outbox is stuck past the write timeout, discarding what is queued", () => {
    const c = connection();
    c.life.serve();
    c.transport.accepting = false;
    c.outbox.push(new Uint8Array(100));
    c.outbox.flush();
    c.life.received(1, c.outbox.blockedSince);
    c.life.check(c.outbox.blockedSince + 401);
    expect(c.closed().map((r) => r.reason)).toEqual(["write timeout: the peer took no bytes for 400 ms"]);
    expect(c.outbox.queuedBytes).toBe(0);
    expect(c.did).toEqual(["release", "half-close"]);
  });

  it("cuts instead of half-closing when its transport says a discard cuts", () => {
    const c = connection({ discardCuts: true });
    c.life.serve();
    c.outbox.push(new Uint8Array(100));
    c.life.close("queue overflow", true);
    expect(c.did).toEqual(["release", "cut", "forget"]);
    expect(c.outbox.bytesSent).toBe(0);
  });
});

describe("Lifecycle: the access check", () => {
  const request = { action: "play" as const, app: "live", name: "x", streamKey: "live/x", query: {}, clientIp: "127.0.0.1" };

  it("counts an allowed action, and counts, logs and announces a refused one", () => {
    const c = connection();
    c.life.serve();
    expect(c.life.authorize({ check: () => ({ allowed: true }) }, request)).toEqual({ allowed: true });
    expect(c.life.authorize({ check: () => ({ allowed: false, reason: "bad token" }) }, request)).toEqual({ allowed: false, reason: "bad token" });
    expect([c.stats.authAllowed, c.stats.authDenied]).toEqual([1, 1]);
    const warned = c.logs.records().filter((r) => r.level === "warn");
    expect(warned.map((r) => [r.msg, r.stream_key, r.reason, r.remote_addr, r.protocol])).toEqual([
      ["play refused: not authorized", "live/x", "bad token", "127.0.0.1:5000", "rtmp"],
    ]);
    const failed = c.seen.filter((e) => e.type === "auth_failed");
    expect(failed.map((e) => [e.conn_id, e.stream_key, e.data.action, e.data.reason])).toEqual([["c000001", "live/x", "play", "bad token"]]);
  });

  it("holds the idle and write deadlines while an answer is awaited", async () => {
    const c = connection();
    c.life.serve();
    const answer = Promise.withResolvers<AuthDecision>();
    const decided = c.life.authorize({ check: () => answer.promise }, request);
    expect(c.life.awaitingAccess).toBe(1);
    c.life.check(c.at(10_000));
    expect(c.life.phase).toBe(Phase.Serving);
    answer.resolve({ allowed: true });
    expect(await decided).toEqual({ allowed: true });
    expect(c.life.awaitingAccess).toBe(0);
    expect(c.stats.authAllowed).toBe(1);
  });

  it("takes a check that throws or rejects for a refusal, logged once", async () => {
    const c = connection();
    c.life.serve();
    const thrown = c.life.authorize({ check: () => { throw new Error("broken"); } }, request);
    const rejected = await c.life.authorize({ check: () => Promise.reject(new Error("unreachable")) }, request);
    expect([thrown, rejected]).toEqual([
      { allowed: false, reason: "access check failed" },
      { allowed: false, reason: "access check failed" },
    ]);
    expect(c.logs.records().filter((r) => r.level === "error").map((r) => r.error)).toEqual(["broken", "unreachable"]);
    expect(c.stats.authDenied).toBe(2);
  });

  it("neither counts nor reports an answer that comes after the connection closed", async () => {
    const c = connection();
    c.life.serve();
    const answer = Promise.withResolvers<AuthDecision>();
    const decided = c.life.authorize({ check: () => answer.promise }, request);
    c.life.close("peer left");
    answer.resolve({ allowed: false, reason: "bad token" });
    await decided;
    expect([c.stats.authAllowed, c.stats.authDenied]).toEqual([0, 0]);
    expect(c.seen.some((e) => e.type === "auth_failed")).toBe(false);
  });
});
