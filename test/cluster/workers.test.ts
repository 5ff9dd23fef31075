/**
 * `workers: 2` serving: both workers listen on the shared RTMP, RTMPS and HTTP ports, viewers land on each,
 * a stream published to one worker plays from every worker (the other pulls it over loopback, once), and
 * the API and /metrics describe both workers whichever one answers.
 */
import { describe, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { testsAtOnce } from "../helpers/at-once.ts";
import { ffprobeJson, publish, requireFfmpeg } from "../helpers/media.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";
import { selfSignedCertificate } from "../helpers/tls-certificate.ts";
import { requireTool } from "../http/harness.ts";
import { TestRedis } from "./redis.ts";
import { childPids, type LogLine, type WorkersServer, WorkersTest } from "./workers-process.ts";

const TOKEN = "tok-3f9a1c";

interface ConnectionJson {
  conn_id: string;
  worker: number;
}

describe.skipIf(!requireFfmpeg())("workers: 2", () => {
  const tests = testsAtOnce(() => new WorkersTest("workers"));

  /**
   * Opens RTMP connections (kept open) until both workers hold one; resolves with the API's list then, and a
   * client of each worker (told apart by the id that appeared in the API when it connected).
   */
  async function connectionsOnEveryWorker(t: WorkersTest, server: WorkersServer): Promise<{ connections: ConnectionJson[]; on: RawRtmpClient[] }> {
    const { clients } = t;
    let connections: ConnectionJson[] = [];
    const on: RawRtmpClient[] = [];
    for (let n = 0; n < 40 && !(on[0] && on[1]); n++) {
      const seen = new Set(connections.map((c) => c.conn_id));
      const client = await RawRtmpClient.connect(server.port);
      clients.push(client);
      await waitFor(async () => {
        connections = (await server.api<{ connections: ConnectionJson[] }>("/api/connections")).connections;
        return connections.length === clients.length;
      }, 5_000, `${clients.length} connections in the API`);
      const added = connections.find((c) => !seen.has(c.conn_id))!;
      expect(added.conn_id.startsWith(`w${added.worker}-`), added.conn_id).toBe(true);
      on[added.worker] ??= client;
    }
    expect(on[0] !== undefined && on[1] !== undefined, JSON.stringify(connections)).toBe(true);
    return { connections, on };
  }

  describe("with cluster.redis", () => {
    tests.it("makes each worker a node of its own in Redis, and plays a stream published to one from both", async (t) => {
      const redis = new TestRedis();
      t.defer(() => redis.dispose());
      await redis.start();
      const server = await t.start(["workers: 2", "cluster:", `  redis: ${JSON.stringify(redis.url)}`, "  node_id: box"]);
      await waitFor(async () => (await redis.keys()).filter((k) => k.startsWith("rtmp:node:")).length === 2, 10_000, "two node records");
      expect((await redis.keys()).filter((k) => k.startsWith("rtmp:node:"))).toEqual(["rtmp:node:box/w0", "rtmp:node:box/w1"]);
      const owner = await publishTo(t, server, "r");
      expect(await redis.get("rtmp:stream:live/r")).toBe(`box/w${owner}`);
      await playFromEveryWorker(server, "r");
      const pulls = server.logs().filter((l) => l.msg === "pull started");
      expect(pulls.map((l) => [l.worker, l.from])).toEqual([[1 - owner, `box/w${owner}`]]);
    }, 90_000);
  });

  tests.it("plays a stream published to one worker from every worker, the other pulling it once over loopback", async (t) => {
    const tokens = join(t.scratch.path, "tokens.json");
    writeFileSync(tokens, JSON.stringify({ "live/w": TOKEN }));
    const server = await t.start([
      "workers: 2",
      "auth:",
      "  mode: file",
      `  file: ${JSON.stringify(tokens)}`,
    ]);
    const owner = await publishTo(t, server, "w", `?token=${TOKEN}`);
    const other = 1 - owner;
    await playFromEveryWorker(server, "w", `?token=${TOKEN}`);

    // One pull, by the other worker, from the owner, for all its players.
    const pulls = server.logs().filter((l) => l.msg === "pull started");
    expect(pulls.map((l) => [l.worker, l.stream_key])).toEqual([[other, "live/w"]]);
    expect(String(pulls[0].from)).toEndWith(`/w${owner}`);
    // The API shows the stream once, as the owner's.
    const { streams } = await server.api<{ streams: { key: string; origin: string | null; worker: number }[] }>("/api/streams");
    expect(streams.map((s) => [s.key, s.origin, s.worker])).toEqual([["live/w", null, owner]]);
    // Both workers, and the one pull, whichever worker answers.
    for (let n = 0; n < 4; n++) {
      const cluster = await server.api<{ nodes: { node_id: string; streams: string[] }[]; pulls: { stream_key: string; from: string }[] }>("/api/cluster");
      expect(cluster.nodes.map((node) => [node.node_id.slice(-3), node.streams])).toEqual([
        ["/w0", owner === 0 ? ["live/w"] : []],
        ["/w1", owner === 1 ? ["live/w"] : []],
      ]);
      expect(cluster.pulls.map((p) => [p.stream_key, p.from.slice(-3)])).toEqual([["live/w", `/w${owner}`]]);
    }
  }, 90_000);

  tests.it("serves a stream's HLS from one muxer, whichever worker each request lands on", async (t) => {
    const server = await t.start(["workers: 2", "hls:", "  enabled: true"]);
    await publishTo(t, server, "h");
    const base = `http://127.0.0.1:${server.httpPort}/live/h/`;
    // Each request on a connection of its own, landing on either worker.
    const fresh = (url: string) => fetch(url, { headers: { connection: "close" }, keepalive: false });
    const segments: string[] = [];
    await waitFor(async () => {
      const playlist = await fresh(`${base}index.m3u8`);
      const text = playlist.status === 200 ? await playlist.text() : "";
      segments.push(...(/^[^#\s].*\.m4s$/m.exec(text) ?? []));
      return segments.length > 0;
    }, 15_000, "a segment in the playlist");
    for (let n = 0; n < 8; n++) {
      const playlist = await fresh(`${base}index.m3u8`);
      expect(playlist.status).toBe(200);
      segments.push(/^[^#\s].*\.m4s$/m.exec(await playlist.text())![0]);
      const segment = await fresh(`${base}${segments[0]}`);
      expect(segment.status, segments[0]).toBe(200);
      expect((await segment.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    // One muxer: every playlist names its files with the same prefix.
    expect(new Set(segments.map((name) => name.split("-")[0])).size).toBe(1);
    const probed = await ffprobeJson(["-show_entries", "stream=codec_name"], `${base}index.m3u8`);
    expect(((probed.streams ?? []) as { codec_name: string }[]).map((s) => s.codec_name).sort()).toEqual(["aac", "h264"]);
    expect(server.logs().filter((l) => l.msg === "hls muxer started")).toHaveLength(1);
  }, 60_000);

  tests.skipIf(!requireTool("promtool")).it("sums both workers' figures in /metrics, whichever answers, and promtool accepts it", async (t) => {
    const server = await t.start(["workers: 2"]);
    await connectionsOnEveryWorker(t, server);
    // Several scrapes: whichever worker each lands on, it reports both.
    for (let n = 0; n < 6; n++) {
      const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      expect(sample(text, "rtmp_workers")).toBe(2);
      expect(sample(text, "rtmp_workers_missing")).toBe(0);
      expect(sample(text, "rtmp_connections")).toBe(t.clients.length);
      expect(sample(text, "rtmp_build_info", "version")).toBe(1);
      const check = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text) });
      expect(check.exitCode, `${check.stdout}${check.stderr}`).toBe(0);
    }
  }, 60_000);

  tests.it("refuses a publisher on one worker of a key published on the other (publish_conflict: reject)", async (t) => {
    const server = await t.start(["workers: 2"]);
    const { on } = await connectionsOnEveryWorker(t, server);
    expect(await on[0].publish("both")).toMatchObject({ code: "NetStream.Publish.Start" });
    expect(await on[1].publish("both")).toEqual({ level: "error", code: "NetStream.Publish.BadName" });
    expect(await on[1].closedWithin(5_000)).toBe(true);
    // Once the first publisher leaves, the key is free on every worker.
    on[0].close();
    await waitFor(async () => (await server.api<{ streams: unknown[] }>("/api/streams")).streams.length === 0, 5_000, "live/both to end");
    const again = await RawRtmpClient.connect(server.port);
    t.clients.push(again);
    expect(await again.publish("both")).toMatchObject({ code: "NetStream.Publish.Start" });
  }, 60_000);

  tests.it("lands viewers on every worker, and closes either worker's connection through whichever worker's API", async (t) => {
    const server = await t.start(["workers: 2"]);
    const { connections } = await connectionsOnEveryWorker(t, server);
    const ids = [0, 1].map((w) => connections.find((c) => c.worker === w)!.conn_id);

    for (const id of ids) {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}/api/connections/${id}`, { method: "DELETE" });
      expect(response.status, id).toBe(204);
    }
    await waitFor(() => t.clients.filter((c) => c.isClosed).length === 2, 5_000, "the two closed connections to end");
    const left = (await server.api<{ connections: ConnectionJson[] }>("/api/connections")).connections.map((c) => c.conn_id);
    for (const id of ids) {
      expect(left).not.toContain(id);
      // Asked again (whichever worker answers): it is gone.
      expect((await fetch(`http://127.0.0.1:${server.httpPort}/api/connections/${id}`, { method: "DELETE" })).status).toBe(404);
    }
  }, 60_000);

  tests.it("starts two workers, each listening on the shared RTMP, RTMPS and HTTP ports and on a port of its own", async (t) => {
    const tls = await selfSignedCertificate(t.scratch.path);
    const tlsPort = freePort();
    const server = await t.start([
      "workers: 2",
      "tls:",
      `  listen: "127.0.0.1:${tlsPort}"`,
      `  cert: ${JSON.stringify(tls.cert)}`,
      `  key: ${JSON.stringify(tls.key)}`,
    ]);
    const listening = server.logs().filter((l) => l.msg === "listening");
    for (const worker of [0, 1]) {
      const own = listening.filter((l) => l.worker === worker).map((l) => l.address);
      expect(own).toContain(`127.0.0.1:${server.port}`);
      expect(own).toContain(`127.0.0.1:${tlsPort}`);
      expect(own).toContain(`127.0.0.1:${server.httpPort}`);
    }
    const ownPorts = listening.filter((l) => l.for === "cluster pulls").map((l) => l.address);
    expect(new Set(ownPorts).size).toBe(2);

    const workers = await server.workers();
    expect(workers.map((w) => [w.index, w.state, w.restarts])).toEqual([
      [0, "running", 0],
      [1, "running", 0],
    ]);
    expect(childPids(server.process.pid).sort()).toEqual(workers.map((w) => w.pid!).sort());
    // Every line a worker writes names it; the supervisor's own (two so far) do not.
    expect(new Set(server.logs().map((l) => l.worker))).toEqual(new Set([undefined, 0, 1]));
    expect(server.logs().filter((l) => l.worker === undefined).map((l) => l.msg)).toEqual(["starting workers", "workers serving"]);
  }, 30_000);

  /** Publishes live/NAME (with `query`) from FFmpeg; resolves with the worker it landed on once it is live. */
  async function publishTo(t: WorkersTest, server: WorkersServer, name: string, query = ""): Promise<number> {
    publish(t.children, await testSource({ seconds: 30 }), server.rtmpUrl(`${name}${query}`));
    let owner = -1;
    await waitFor(async () => {
      const { streams } = await server.api<{ streams: { key: string; video: unknown; worker: number }[] }>("/api/streams");
      owner = streams.find((s) => s.key === `live/${name}` && s.video !== null)?.worker ?? -1;
      return owner >= 0;
    }, 10_000, `live/${name} published`);
    return owner;
  }

  /**
   * Players land where the kernel puts them: ffprobe live/NAME until both workers have served one, each
   * finding H.264 and AAC (the pull a worker makes to the owner's own port is no such player: it did not come
   * in on the shared port).
   */
  async function playFromEveryWorker(server: WorkersServer, name: string, query = ""): Promise<void> {
    const playersOn = (worker: number) => viewersOf(server.logs(), server.port, `live/${name}`).filter((l) => l.worker === worker).length;
    for (let n = 0; n < 16 && (playersOn(0) === 0 || playersOn(1) === 0); n++) {
      const probed = await ffprobeJson(["-show_entries", "stream=codec_type,codec_name"], server.rtmpUrl(`${name}${query}`));
      const codecs = ((probed.streams ?? []) as { codec_name: string }[]).map((s) => s.codec_name).sort();
      expect(codecs).toEqual(["aac", "h264"]);
    }
    expect([playersOn(0), playersOn(1)].every((n) => n > 0), `players by worker: ${playersOn(0)}, ${playersOn(1)}`).toBe(true);
  }
});

/** "play start" lines for `key` of players that came in on the shared RTMP port. */
function viewersOf(logs: LogLine[], port: number, key: string): LogLine[] {
  const shared = new Set(logs.filter((l) => l.msg === "connect" && String(l.tc_url).includes(`:${port}/`)).map((l) => `${l.worker} ${l.conn_id}`));
  return logs.filter((l) => l.msg === "play start" && l.stream_key === key && shared.has(`${l.worker} ${l.conn_id}`));
}

/** The value of the first sample of `name` (with a `label` if given) in an exposition. */
function sample(text: string, name: string, label?: string): number {
  const line = text.split("\n").find((l) => l.startsWith(label === undefined ? `${name} ` : `${name}{${label}=`));
  if (line === undefined) throw new Error(`no sample ${name} in\n${text}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}
