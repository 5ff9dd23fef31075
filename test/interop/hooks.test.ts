/**
 * Hooks through the real server: a publish and a play by FFmpeg reach a real webhook receiver and a real
 * script as every event of the contract, with its fields, causes before effects, signed; a receiver that
 * never answers stalls no player; a graceful stop delivers what is queued.
 */
import { describe, expect } from "bun:test";
import { createHmac } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../src/config/config.ts";
import type { EventType, ServerEvent } from "../../src/events/events.ts";
import { type Fixture, testsAtOnce } from "../helpers/at-once.ts";
import { LiveTest } from "../helpers/live-server.ts";
import { requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { frameSkips, videoFramesSince } from "../helpers/raw-rtmp-client.ts";
import { type Received, Receiver } from "../hooks/harness.ts";

const SECRET = "hook-secret-9e1d";
/** The test source's video frame interval (25 fps). */
const FRAME_MS = 40;

describe.skipIf(!requireFfmpeg())("hooks of a real server", () => {
  /** A test's own webhook receiver, and its server once start() has run. */
  class HookTest implements Fixture {
    readonly receiver = new Receiver();
    readonly live = new LiveTest("hooks");

    /** Starts the test's server: every event to the receiver at /hooks, signed, and what `adjust` adds. */
    async start(adjust: (c: Config) => void = () => {}) {
      const server = await this.live.restart((c) => {
        c.hooks.secret = SECRET;
        c.hooks.webhooks = [{ event: "*", url: this.receiver.url("/hooks") }];
        adjust(c);
      });
      const emitted: ServerEvent[] = [];
      server.server.events.subscribe((e) => emitted.push(e));
      return { server, emitted };
    }

    async dispose(): Promise<void> {
      // Held requests end first, so that stopping the server is not kept waiting by them.
      this.receiver.stop();
      await this.live.dispose();
    }
  }
  const tests = testsAtOnce(() => new HookTest());

  tests.it("delivers every event of an FFmpeg publish and play, with its fields, causes first, signed, to webhook and script", async (t) => {
    const { live, receiver } = t;
    const dir = live.path("script-out");
    const { server, emitted } = await t.start((c) => (c.hooks.scripts = [{ event: "*", path: writeEnvScript(dir) }]));
    // The player waits for the stream, so that these two connections are all the server ever sees.
    const player = live.play("h", null);
    await server.waitForPlayers("h", 1);
    const publisher = live.publish(await testSource(), "h", { seconds: 2 });
    expect(await publisher.waitExit(12_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);

    const got = () => receiver.events("/hooks");
    const closes = () => got().filter((e) => e.type === "connection_close").length;
    const types = () => got().map((e) => e.type).join(" ");
    await waitFor(() => closes() === 2 && got().length === emitted.length, 10_000, "every event at the receiver", types);
    const events = got();
    expect(events.map((e) => e.id).sort()).toEqual(emitted.map((e) => e.id).sort());
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expectLifecycle(events);
    for (const request of receiver.received) {
      const signature = `sha256=${createHmac("sha256", SECRET).update(request.body).digest("hex")}`;
      expect(request.headers.get("x-rtmp-signature")).toBe(signature);
    }

    const scriptRuns = () => server.server.hooks.stats().script;
    const ran = () => JSON.stringify(scriptRuns());
    await waitFor(() => scriptRuns().ok === events.length, 10_000, "a finished script run per event", ran);
    const variables = readEnvFiles(dir);
    for (const request of receiver.received) {
      const event = exactBody(request);
      expect(variables.get(event.id), event.type).toEqual(expectedVariables(event));
    }
  }, 40_000);

  tests.it("keeps 10 players fed while the webhook receiver never answers", async (t) => {
    const { live, receiver } = t;
    await t.start((c) => {
      c.hooks.timeoutMs = 1_000;
      c.timeouts.shutdownMs = 2_000;
    });
    receiver.answer = async () => {
      await receiver.hold();
      return new Response("ok");
    };
    const publisher = await live.publishLive(await testSource(), "s", { seconds: 5 });
    const players = await Promise.all(Array.from({ length: 10 }, () => live.rawPlayer("s")));
    // No request is ever answered: from the first one held on, every player gets 2 s more of video, every frame.
    await waitFor(() => (receiver.open.get("/hooks") ?? 0) > 0, 5_000, "a webhook request held by the receiver");
    const heldFrom = performance.now();
    const fed = () => players.every((player) => videoFramesSince(player, heldFrom) >= 50);
    await waitFor(fed, 10_000, "50 more video frames at every player", () => players.map((p) => p.summary()).join("\n"));
    expect(receiver.open.get("/hooks"), "requests held by the receiver").toBeGreaterThan(0);
    for (const player of players) expect(frameSkips(player, FRAME_MS), player.summary()).toEqual([]);
    expect(await publisher.waitExit(10_000), publisher.describe()).toBe(0);
    const timedOut = () => live.server.logs.records().some((r) => r.msg === "webhook timed out");
    await waitFor(timedOut, 5_000, "a webhook timed out", () => live.server.logs.tail());
  }, 30_000);

  tests.it("delivers what is queued at a graceful stop, within timeouts.shutdown", async (t) => {
    const { live, receiver } = t;
    const { server, emitted } = await t.start((c) => {
      c.hooks.concurrency = 1;
      c.timeouts.shutdownMs = 5_000;
    });
    // A slow receiver and one delivery at a time: the shutdown's own events queue up behind each other.
    receiver.answer = async () => {
      await Bun.sleep(20);
      return new Response("ok");
    };
    await live.publishLive(await testSource(), "g", { seconds: 8 });
    await live.rawPlayer("g");
    const before = emitted.length;
    await live.stopServer();
    // Within the deadline: nothing was cut off (which the runner counts and logs), nothing dropped.
    expect(server.server.hooks.stats().webhook).toEqual({ ok: emitted.length, failed: 0, timeout: 0, dropped: 0 });
    expect(server.logs.records().filter((r) => r.msg === "hooks cut off at the shutdown deadline")).toEqual([]);

    const during = emitted.slice(before).map((e) => e.type);
    expect(during).toEqual(expect.arrayContaining(["publish_stop", "play_stop", "connection_close", "stream_delete"]));
    const delivered = new Set(receiver.events("/hooks").map((e) => e.id));
    expect(emitted.filter((e) => !delivered.has(e.id)).map((e) => e.type)).toEqual([]);
  }, 30_000);
});

/**
 * The events of one player (which came first and waited) and one publisher of live/h: each with its fields,
 * and in an arrival order where no event precedes its cause.
 */
function expectLifecycle(events: ServerEvent[]): void {
  const of = (type: EventType, conn?: string) =>
    events.filter((e) => e.type === type && (conn === undefined || e.conn_id === conn));
  const pub = one(of("publish_start")).conn_id!;
  const sub = one(of("play_start")).conn_id!;
  for (const conn of [pub, sub]) {
    const accept = one(of("connection_accept", conn)).data;
    expect(Object.keys(accept).sort()).toEqual(["protocol", "remote_addr"]);
    expect(accept.protocol).toBe("rtmp");
    for (const type of ["connection_accept", "handshake_complete"] as const) {
      expect(one(of(type, conn)).data.remote_addr).toMatch(/^127\.0\.0\.1:\d+$/);
    }
  }
  expect(one(of("stream_create"))).toMatchObject({ stream_key: "live/h", data: { app: "live", name: "h" } });
  expect(one(of("publish_start"))).toMatchObject({ stream_key: "live/h", data: { app: "live", publishing_name: "h" } });
  const detected = (kind: string) => one(of("codec_detected").filter((e) => e.data.kind === kind)).data;
  expect(detected("video")).toMatchObject({ codec: "H264", width: 320, height: 240 });
  expect(detected("audio")).toMatchObject({ codec: "AAC", sample_rate: 44100, channels: 1 });
  expect(one(of("play_start")).data).toMatchObject({ app: "live", protocol: "rtmp" });
  expect(of("subscriber_count").map((e) => e.data.count)).toEqual([1, 0]);
  expect(one(of("play_stop")).data.duration_sec).toBeGreaterThan(1);
  const stop = one(of("publish_stop")).data;
  expect(stop).toMatchObject({ audio_codec: "AAC", video_codec: "H264" });
  for (const key of ["audio_packets", "video_packets", "total_bytes"]) expect(stop[key]).toBeGreaterThan(0);
  expect(stop.duration_sec).toBeGreaterThan(1.5);
  for (const [conn, role] of [
    [pub, "publisher"],
    [sub, "player"],
  ]) {
    const close = one(of("connection_close", conn)).data;
    expect(close.role).toBe(role);
    expect(close.duration_sec).toBeGreaterThan(0);
  }
  expect(one(of("stream_delete")).stream_key).toBe("live/h");

  const [joined, left] = of("subscriber_count");
  const causes: ServerEvent[][] = [
    [...of("connection_accept", pub), ...of("handshake_complete", pub), ...of("publish_start"), ...of("codec_detected")],
    [...of("codec_detected"), ...of("publish_stop"), ...of("connection_close", pub)],
    [...of("connection_accept", sub), ...of("handshake_complete", sub), ...of("play_start"), joined],
    [joined, ...of("play_stop"), left, ...of("connection_close", sub)],
    [...of("stream_create"), ...of("play_start"), ...of("publish_start")],
    [...of("publish_stop"), ...of("play_stop"), ...of("stream_delete")],
  ];
  for (const chain of causes) {
    const positions = chain.map((e) => events.indexOf(e));
    expect(positions, chain.map((e) => e.type).join(" < ")).toEqual(positions.toSorted((a, b) => a - b));
  }
}

/** The one event in `events`, or the test fails naming what it got. */
function one(events: ServerEvent[]): ServerEvent {
  expect(events.length, events.map((e) => `${e.type}(${e.conn_id ?? ""})`).join(" ")).toBe(1);
  return events[0];
}

/** The event as the receiver got it, parsed afresh from the exact body bytes. */
function exactBody(request: Received): ServerEvent {
  return JSON.parse(new TextDecoder().decode(request.body)) as ServerEvent;
}

/** The contract's RTMP_* variables of `event`. */
function expectedVariables(event: ServerEvent): Record<string, string> {
  const variables: Record<string, string> = {
    RTMP_EVENT_TYPE: event.type,
    RTMP_EVENT_ID: event.id,
    RTMP_STREAM_KEY: event.stream_key ?? "",
    RTMP_CONN_ID: event.conn_id ?? "",
    RTMP_TIMESTAMP: String(event.timestamp),
  };
  for (const [key, value] of Object.entries(event.data)) {
    variables[`RTMP_${key.toUpperCase()}`] = value === null ? "" : String(value);
  }
  return variables;
}

/**
 * A hook script that writes its environment to DIR/<event id>.env: one file per event, because scripts of
 * unrelated events (two connections) run at the same time. Executed directly, and given no PATH.
 */
function writeEnvScript(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "on-event.sh");
  writeFileSync(path, `#!/bin/sh\nexec /usr/bin/env > "${dir}/$RTMP_EVENT_ID.env"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** The RTMP_* variables each script run saw, by event id. */
function readEnvFiles(dir: string): Map<string, Record<string, string>> {
  const seen = new Map<string, Record<string, string>>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".env"))) {
    const lines = readFileSync(join(dir, file), "utf8").split("\n").filter((line) => line.startsWith("RTMP_"));
    const pairs = lines.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]);
    seen.set(file.slice(0, -".env".length), Object.fromEntries(pairs));
  }
  return seen;
}
