/**
 * Connection churn beside a live stream: players that leave at once, players reset after their first frame,
 * half handshakes, garbage, publishers that vanish. Afterwards nothing of them may remain: no connection in
 * the table, no stream in the registry, no session object alive after a garbage collection, no timer
 * pending; and a player that left at once must not have been sent the GOP burst.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { TestRtmpClient } from "../../support/rtmp-test-client.ts";
import { liveTest } from "../helpers/live-server.ts";
import { requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { isVideoFrame } from "../helpers/raw-rtmp-client.ts";

/**
 * Timers created in this process and not yet fired or cleared, watched by wrapping the globals for the
 * length of this file: the server runs in-process, so its timers are among them.
 */
class TimerWatch {
  private readonly pending = new Set<unknown>();
  private readonly originals = { setTimeout, clearTimeout, setInterval, clearInterval };

  install(): void {
    const pending = this.pending;
    const { setTimeout: st, clearTimeout: ct, setInterval: si, clearInterval: ci } = this.originals;
    globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const handle = st((...a: unknown[]) => {
        pending.delete(handle);
        fn(...a);
      }, ms, ...args);
      pending.add(handle);
      return handle;
    }) as typeof setTimeout;
    globalThis.setInterval = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const handle = si(fn, ms, ...args);
      pending.add(handle);
      return handle;
    }) as typeof setInterval;
    globalThis.clearTimeout = ((handle: unknown) => {
      pending.delete(handle);
      ct(handle as Parameters<typeof clearTimeout>[0]);
    }) as typeof clearTimeout;
    globalThis.clearInterval = ((handle: unknown) => {
      pending.delete(handle);
      ci(handle as Parameters<typeof clearInterval>[0]);
    }) as typeof clearInterval;
  }

  uninstall(): void {
    Object.assign(globalThis, this.originals);
  }

  snapshot(): Set<unknown> {
    return new Set(this.pending);
  }

  /** Timers pending now that were not pending at `before`. */
  since(before: Set<unknown>): number {
    let n = 0;
    for (const handle of this.pending) if (!before.has(handle)) n++;
    return n;
  }
}

describe.skipIf(!requireFfmpeg())("connection churn beside a live stream", () => {
  const timers = new TimerWatch();
  beforeAll(() => timers.install());
  afterAll(() => timers.uninstall());
  const live = liveTest("churn");

  it("leaves no connection, stream, session or timer behind, and sends no GOP burst to a player that left at once", async () => {
    const server = live.server;
    // 4 Mbit/s, so that one GOP is far larger than anything a connection gets before its first frame.
    const publisher = await live.publishLive(await testSource({ cbr: "4M" }), "main", { seconds: 30 });
    const steady = await Promise.all(Array.from({ length: 5 }, () => live.rawPlayer("main")));
    await Promise.all(steady.map((p) => p.waitFor(isVideoFrame, 5_000, "a steady player's first frame")));
    const baseline = { connections: server.server.connections.size, streams: server.server.registry.streams.size };
    const timersBefore = timers.snapshot();

    const accepted: string[] = [];
    const closed = new Map<string, { role: unknown; bytesOut: number }>();
    const sessions: WeakRef<object>[] = [];
    const unsubscribe = server.server.events.subscribe((e) => {
      if (e.type === "connection_accept") {
        accepted.push(e.conn_id!);
        sessions.push(new WeakRef(server.server.connections.get(e.conn_id!)!));
      }
      if (e.type === "connection_close") closed.set(e.conn_id!, { role: e.data.role, bytesOut: Number(e.data.bytes_out) });
    });

    // (a) Players that send play and close at once.
    const instant = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const client = await TestRtmpClient.connect(server.url("main"));
        const id = await client.createStream();
        client.play(id, "main").catch(() => {});
        await client.close();
      }),
    );
    const instantIds = accepted.splice(0);
    // (b) Players reset right after their first frame; (c) half handshakes; (d) garbage; (e) vanishing publishers.
    const rounds = Array.from({ length: 20 }, async (_, i) => {
      const reset = await live.rawPlayer("main");
      await reset.waitFor(isVideoFrame, 5_000, "a churning player's first frame");
      reset.reset();
      const half = await live.tcpClient();
      half.write(new Uint8Array(1537).fill(3));
      half.close();
      const garbage = await live.tcpClient();
      garbage.write(crypto.getRandomValues(new Uint8Array(3000)));
      garbage.close();
      const vanishing = await live.rawClient();
      await vanishing.publish(`gone-${i}`);
      vanishing.reset();
    });
    await Promise.all(rounds);
    expect(instant).toHaveLength(20);

    await waitFor(
      () => server.server.connections.size === baseline.connections && server.server.registry.streams.size === baseline.streams,
      10_000,
      "the churned connections and streams to be gone",
      () => `connections ${server.server.connections.size}, streams ${[...server.server.registry.streams.keys()]}`,
    );
    unsubscribe();
    expect(server.server.registry.streams.get("live/main")!.subscribers).toHaveLength(steady.length);
    const reachable = () => sessions.filter((s) => s.deref() !== undefined).length;
    const collected = () => {
      Bun.gc(true);
      return reachable() === 0;
    };
    await waitFor(collected, 2_000, "the churned sessions to be collected", () => `${reachable()} still reachable`);
    expect(timers.since(timersBefore), "timers the churn left pending").toBe(0);

    // What the players that left at once were sent: the replies to their commands, not the GOP.
    for (const id of instantIds) {
      const close = closed.get(id);
      expect(close, `connection_close for ${id}`).toBeDefined();
      expect(close!.bytesOut, `bytes sent to ${id}, which left right after play`).toBeLessThan(16 * 1024);
    }
    expect(publisher.running, "the publisher went on through the churn").toBe(true);
  }, 60_000);
});
