import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ServerEvent } from "../../src/events/events.ts";
import { envBlock } from "../../src/hooks/event-variables.ts";
import { HOOK_QUEUE_LIMIT } from "../../src/hooks/hook-runner.ts";
import { scratchDir } from "../helpers/media.ts";
import { waitFor } from "../../support/wait.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { type Harness, Receiver, finished, startHooks } from "./harness.ts";

const dir = scratchDir("hooks-runner");
let receiver: Receiver;
let hooks: Harness | undefined;

afterEach(async () => {
  await hooks?.runner.stop(performance.now());
  hooks = undefined;
  receiver?.stop();
});
afterAll(() => dir.remove());

function start(settings: Parameters<typeof startHooks>[0]): Harness {
  hooks = startHooks(settings);
  return hooks;
}

/** Everything the channel emits, as emitted (a second subscriber beside the runner). */
function record(h: Harness): ServerEvent[] {
  const emitted: ServerEvent[] = [];
  h.channel.subscribe((event) => emitted.push(event));
  return emitted;
}

/** The ids of `events` that belong to `key` ("stream:..." or "conn:..."), in order. */
function idsOf(events: ServerEvent[], key: string): string[] {
  return events
    .filter((e) => `stream:${e.stream_key}` === key || `conn:${e.conn_id}` === key)
    .map((e) => e.id);
}

function keysOf(events: ServerEvent[]): string[] {
  return [...new Set(events.flatMap((e) => [`stream:${e.stream_key}`, `conn:${e.conn_id}`]))].filter(
    (key) => !key.endsWith(":undefined"),
  );
}

describe("HookRunner ordering", () => {
  it("delivers a stream's and a connection's events in emission order while unrelated ones go ahead", async () => {
    receiver = new Receiver();
    const h = start({ concurrency: 4, webhooks: [{ event: "*", url: receiver.url("/hook") }] });
    const emitted = record(h);
    const streamB = () => receiver.events("/hook").filter((e) => e.stream_key === "live/b" || e.conn_id === "c4");
    // live/a's first event is answered only once all of live/b's have arrived: a runner that delivered
    // everything in one line would never get there.
    receiver.answer = async (r) => {
      if (r.event.type === "publish_start" && r.event.stream_key === "live/a") {
        await waitFor(() => streamB().length === 5, 5_000, "live/b's events while live/a's first is held");
      }
      return new Response("ok");
    };
    h.channel.emit("publish_start", { connId: "c1", streamKey: "live/a" });
    h.channel.emit("publish_start", { connId: "c2", streamKey: "live/b" });
    h.channel.emit("play_start", { connId: "c3", streamKey: "live/a" });
    h.channel.emit("play_start", { connId: "c4", streamKey: "live/b" });
    h.channel.emit("play_stop", { connId: "c4", streamKey: "live/b" });
    h.channel.emit("connection_close", { connId: "c4" });
    h.channel.emit("publish_stop", { connId: "c2", streamKey: "live/b" });
    h.channel.emit("publish_stop", { connId: "c1", streamKey: "live/a" });
    h.channel.emit("connection_close", { connId: "c1" });
    await waitFor(() => finished(h.runner.stats().webhook) === 9, 5_000, "9 deliveries", () => h.logs.tail());

    const arrived = receiver.events("/hook");
    const order = (e: ServerEvent) => `${e.type} ${e.conn_id}`;
    expect(arrived.slice(0, 6).map(order).sort()).toEqual([
      "connection_close c4",
      "play_start c4",
      "play_stop c4",
      "publish_start c1",
      "publish_start c2",
      "publish_stop c2",
    ]);
    expect(arrived.slice(6).map(order)).toEqual(["play_start c3", "publish_stop c1", "connection_close c1"]);
    for (const key of keysOf(emitted)) expect({ key, ids: idsOf(arrived, key) }).toEqual({ key, ids: idsOf(emitted, key) });
  });

  it("keeps per-stream and per-connection order under concurrency with randomly slow answers (seeded)", async () => {
    receiver = new Receiver();
    const random = mulberry32(7);
    const openKeys = new Set<string>();
    const overlaps: string[] = [];
    receiver.answer = async (r) => {
      const keys = keysOf([r.event]);
      for (const key of keys) if (openKeys.has(key)) overlaps.push(`${key} ${r.event.id}`);
      for (const key of keys) openKeys.add(key);
      await Bun.sleep(Math.floor(random() * 6));
      for (const key of keys) openKeys.delete(key);
      return new Response("ok");
    };
    const h = start({ concurrency: 3, webhooks: [{ event: "*", url: receiver.url("/hook") }] });
    const emitted = record(h);
    const types = ["publish_start", "play_start", "play_stop", "subscriber_count", "connection_close"] as const;
    for (let i = 0; i < 200; i++) {
      const connId = `c${Math.floor(random() * 8)}`;
      const streamKey = random() < 0.8 ? `live/s${Math.floor(random() * 5)}` : undefined;
      h.channel.emit(types[Math.floor(random() * types.length)], { connId, streamKey });
    }
    await waitFor(() => finished(h.runner.stats().webhook) === 200, 10_000, "200 deliveries", () => h.logs.tail());
    expect(overlaps).toEqual([]);
    expect(receiver.maxOpen.get("/hook")).toBeLessThanOrEqual(3);
    const arrived = receiver.events("/hook");
    for (const key of keysOf(emitted)) expect({ key, ids: idsOf(arrived, key) }).toEqual({ key, ids: idsOf(emitted, key) });
  });
});

describe("HookRunner isolation and bounds", () => {
  it("lets a hanging receiver or script hold only its own slot: other hooks and streams keep flowing", async () => {
    receiver = new Receiver();
    receiver.answer = async (r) => {
      if (r.event.stream_key === "live/stuck") await receiver.hold();
      return new Response("ok");
    };
    const stuckOut = join(dir.path, "stuck.started");
    const script = join(dir.path, "sleeps-on-stuck.sh");
    writeFileSync(script, `#!/bin/sh\n[ "$RTMP_STREAM_KEY" = live/stuck ] && touch '${stuckOut}' && exec sleep 30\nexit 0\n`);
    chmodSync(script, 0o755);
    const h = start({
      concurrency: 4,
      timeoutMs: 20_000,
      webhooks: [
        { event: "*", url: receiver.url("/a") },
        { event: "publish_start", url: receiver.url("/b") },
      ],
      scripts: [{ event: "*", path: script }],
    });
    h.channel.emit("publish_start", { connId: "c0", streamKey: "live/stuck" });
    await waitFor(() => receiver.open.get("/a") === 1 && receiver.open.get("/b") === 1, 5_000, "both receivers to hang");
    await waitFor(() => existsSync(stuckOut), 5_000, "the script to hang");
    for (let i = 1; i <= 6; i++) h.channel.emit("publish_start", { connId: `c${i}`, streamKey: `live/s${i}` });
    for (let i = 1; i <= 6; i++) h.channel.emit("publish_stop", { connId: `c${i}`, streamKey: `live/s${i}` });
    h.channel.emit("publish_stop", { connId: "c0", streamKey: "live/stuck" });

    const flowed = () => ({
      a: receiver.events("/a").length,
      b: receiver.events("/b").length,
      script: h.runner.stats().script.ok,
    });
    await waitFor(() => flowed().a === 13 && flowed().b === 7 && flowed().script === 12, 5_000, "the other streams' events", () =>
      JSON.stringify(flowed()),
    );
    // The stuck stream's publish_stop still waits behind its publish_start, which still holds its slot.
    expect(receiver.events("/a").filter((e) => e.stream_key === "live/stuck").map((e) => e.type)).toEqual(["publish_start"]);
    expect(h.runner.stats().webhook.timeout + h.runner.stats().script.timeout).toBe(0);
    expect(receiver.maxOpen.get("/a")).toBe(2);
  });

  it("lets a hook whose every request hangs hold at most concurrency - (hooks - 1) slots", async () => {
    receiver = new Receiver();
    receiver.answer = async (r) => {
      if (r.path === "/hang") await receiver.hold();
      return new Response("ok");
    };
    const h = start({
      concurrency: 4,
      timeoutMs: 20_000,
      webhooks: [
        { event: "*", url: receiver.url("/hang") },
        { event: "*", url: receiver.url("/fast") },
        { event: "record_stop", url: receiver.url("/rare") },
      ],
    });
    for (let i = 1; i <= 8; i++) h.channel.emit("publish_start", { connId: `c${i}`, streamKey: `live/s${i}` });
    await waitFor(() => receiver.events("/fast").length === 8, 5_000, "/fast to get every event", () => h.logs.tail());
    h.channel.emit("record_stop", { streamKey: "live/s1" });
    await waitFor(() => receiver.events("/rare").length === 1, 5_000, "/rare to get its event");
    expect(receiver.maxOpen.get("/hang")).toBe(2);
    expect(receiver.open.get("/hang")).toBe(2);
  });

  it("drops what does not fit a hook's queue, counts it, and warns once per burst", async () => {
    receiver = new Receiver();
    receiver.answer = async () => {
      await receiver.hold();
      return new Response("ok");
    };
    const h = start({ concurrency: 1, webhooks: [{ event: "*", url: receiver.url("/hook") }] });
    for (let i = 0; i < HOOK_QUEUE_LIMIT + 10; i++) h.channel.emit("subscriber_count", { streamKey: "live/busy" }, { count: i });
    expect(h.runner.stats().webhook.dropped).toBe(10);
    const warnings = () => h.logs.records().filter((r) => String(r.msg).startsWith("hook queue"));
    expect(warnings()).toEqual([expect.objectContaining({ msg: "hook queue full: dropping events", limit: HOOK_QUEUE_LIMIT })]);

    // Once the first delivery has started there is room for one more, and the burst ends with its count.
    await waitFor(() => receiver.received.length === 1, 5_000, "the first delivery");
    h.channel.emit("subscriber_count", { streamKey: "live/busy" }, { count: -1 });
    expect(warnings()[1]).toMatchObject({ msg: "hook queue has room again", dropped: 10 });

    await h.runner.stop(performance.now());
    expect(h.runner.stats().webhook).toEqual({ ok: 0, failed: 0, timeout: 1, dropped: 10 + HOOK_QUEUE_LIMIT });
  });
});

describe("HookRunner.stop", () => {
  it("delivers everything queued when the deadline allows, and takes no new events", async () => {
    receiver = new Receiver();
    receiver.answer = async () => {
      await Bun.sleep(10);
      return new Response("ok");
    };
    const h = start({ concurrency: 2, webhooks: [{ event: "*", url: receiver.url("/hook") }] });
    for (let i = 0; i < 20; i++) h.channel.emit("subscriber_count", { streamKey: `live/s${i % 2}` }, { count: i });
    const stopped = h.runner.stop(performance.now() + 10_000);
    h.channel.emit("publish_stop", { streamKey: "live/late" });
    await stopped;
    expect(h.runner.stats().webhook).toEqual({ ok: 20, failed: 0, timeout: 0, dropped: 0 });
    expect(receiver.events("/hook").map((e) => e.data.count).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it("gives up at the deadline: aborts what runs, drops what waits", async () => {
    receiver = new Receiver();
    receiver.answer = async () => {
      await receiver.hold();
      return new Response("ok");
    };
    const h = start({ timeoutMs: 20_000, webhooks: [{ event: "*", url: receiver.url("/hook") }] });
    for (let i = 0; i < 4; i++) h.channel.emit("subscriber_count", { streamKey: "live/one" }, { count: i });
    await waitFor(() => receiver.received.length === 1, 5_000, "the first delivery");
    await h.runner.stop(performance.now() + 200);
    // The receiver still holds the request: stop() did not wait for it (nor for the 20 s hook timeout).
    expect(receiver.open.get("/hook")).toBe(1);
    expect(h.runner.stats().webhook).toEqual({ ok: 0, failed: 0, timeout: 1, dropped: 3 });
    expect(h.logs.records().find((r) => r.msg === "hooks cut off at the shutdown deadline")).toMatchObject({
      level: "warn",
      running: 1,
      dropped: 3,
    });
  });
});

describe("HookRunner stdio", () => {
  it("json: prints each event as one JSON line, in emission order, never from inside emit()", async () => {
    const h = start({ stdio: "json" });
    const emitted = record(h);
    h.channel.emit("publish_start", { connId: "c1", streamKey: "live/a" }, { app: "live", name: "a\nb" });
    h.channel.emit("connection_accept", { connId: "c2" }, { remote_addr: "127.0.0.1:4000" });
    h.channel.emit("publish_stop", { connId: "c1", streamKey: "live/a" });
    expect(h.printed).toEqual([]);
    await waitFor(() => h.printed.length === 3, 2_000, "3 printed events");
    expect(h.printed).toEqual(emitted.map((e) => `${JSON.stringify(e)}\n`));
    expect(h.printed.every((text) => text.indexOf("\n") === text.length - 1)).toBe(true);
    expect(h.runner.stats().stdio).toEqual({ ok: 3, failed: 0, timeout: 0, dropped: 0 });
  });

  it("env: prints each event's variable block followed by a blank line", async () => {
    const h = start({ stdio: "env" });
    const emitted = record(h);
    h.channel.emit("auth_failed", { connId: "c1", streamKey: "live/a" }, { action: "publish", error: "bad token" });
    h.channel.emit("play_start", { connId: "c2", streamKey: "live/b" });
    await waitFor(() => h.printed.length === 2, 2_000, "2 printed events");
    expect(h.printed).toEqual(emitted.map(envBlock));
    expect(h.printed[0]).toStartWith("RTMP_EVENT_TYPE=auth_failed\nRTMP_STREAM_KEY=live/a\nRTMP_CONN_ID=c1\n");
    expect(h.printed[0]).toEndWith("RTMP_ACTION=publish\nRTMP_ERROR=bad token\n\n");
  });
});
