/**
 * HLS over HTTP with a real server and a real RTMP publisher of synthetic frames: when a muxer starts and
 * stops, its first segment from the GOP cache, CORS and preflight, play auth on every HLS URL, 404 for a
 * stream nobody publishes, blocking reload over HTTP, and HLS viewers in /api/streams, /api/connections,
 * /metrics and the play events.
 */
import { afterEach, describe, expect, it } from "bun:test";
import type { Config } from "../../src/config/config.ts";
import type { ServerEvent } from "../../src/events/events.ts";
import { Csid, MessageType } from "../../src/protocol/message.ts";
import { waitFor } from "../../support/wait.ts";
import type { LiveTest } from "../helpers/live-server.ts";
import { httpLiveTest, httpUrl, recordEvents, SyntheticPublisher } from "../http/harness.ts";
import { trafs } from "./synthetic.ts";

const publishers: SyntheticPublisher[] = [];
afterEach(async () => {
  for (const p of publishers.splice(0)) await p.close();
});

/** A publisher of live/NAME whose GOP cache holds a keyframe and the frames after it. */
async function livePublisher(live: LiveTest, name: string): Promise<SyntheticPublisher> {
  const p = await SyntheticPublisher.start(live.server.port, name);
  publishers.push(p);
  p.frames(30);
  const stream = () => live.server.server.registry.streams.get(`live/${name}`);
  await waitFor(() => (stream()?.stats(performance.now())?.video_packets ?? 0) >= 30, 5_000, `frames of live/${name}`);
  return p;
}

function hls(adjust?: (config: Config) => void): (config: Config) => void {
  return (config) => {
    config.hls.enabled = true;
    config.timeouts.handshakeMs = 300;
    adjust?.(config);
  };
}

const get = (live: LiveTest, path: string, init: RequestInit = {}) => fetch(httpUrl(live, path), { redirect: "manual", ...init });

/** The log messages recorded so far with `msg`. */
function logged(live: LiveTest, msg: string) {
  return live.server.logs.records().filter((r) => r.msg === msg);
}

describe("HLS muxers", () => {
  const live = httpLiveTest("hls-muxers", { adjust: hls() });

  it("costs nothing until asked: a muxer starts on the first request, from the GOP cache, and stops with its last viewer", async () => {
    await livePublisher(live, "a");
    expect(logged(live, "hls muxer started")).toHaveLength(0);
    const response = await get(live, "/live/a/index.m3u8");
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).toContain("#EXTINF:");
    expect(logged(live, "hls muxer started")).toHaveLength(1);
    const viewer = [...live.server.server.connections.values()].find((c) => c.protocol === "hls")!;
    const closed = await get(live, `/api/connections/${viewer.id}`, { method: "DELETE" });
    expect(closed.status).toBe(204);
    await waitFor(() => logged(live, "hls muxer stopped").length === 1, 5_000, "the muxer to stop");
    expect(logged(live, "hls muxer stopped")[0]).toMatchObject({ stream_key: "live/a", reason: "no viewer left" });
  });

  it("cuts a GOP cache that holds only its keyframe once a sample of every track is complete: the first segment has every track", async () => {
    const p = await SyntheticPublisher.start(live.server.port, "fresh");
    publishers.push(p);
    const send = (type: number, timestamp: number, payload: Uint8Array) =>
      p.client.send({ csid: type === MessageType.Video ? Csid.Video : Csid.Audio, type, streamId: p.streamId, timestamp, payload });
    const frame = (keyframe: boolean) => {
      const video = new Uint8Array(1000).fill(0x55);
      video.set([keyframe ? 0x17 : 0x27, 1, 0, 0, 0]);
      return video;
    };
    const audio = Uint8Array.of(0xaf, 1, 0x21, 0x10, 0x04);
    send(MessageType.Video, 0, frame(true));
    const stream = () => live.server.server.registry.streams.get("live/fresh");
    await waitFor(() => (stream()?.stats(performance.now())?.keyframes ?? 0) === 1, 5_000, "the keyframe of live/fresh");
    const playlist = get(live, "/live/fresh/index.m3u8").then((r) => r.text());
    await waitFor(() => logged(live, "hls muxer started").length === 1, 5_000, "the muxer to start");
    // A sample's duration is known once the next one of its track comes.
    send(MessageType.Audio, 0, audio);
    send(MessageType.Video, 40, frame(false));
    send(MessageType.Audio, 23, audio);
    const segment = /\n([^#\n]+seg0\.m4s)\n/.exec(await playlist)![1];
    const bytes = new Uint8Array(await (await get(live, `/live/fresh/${segment}`)).arrayBuffer());
    expect(trafs(bytes).map((t) => [t.trackId, t.samples])).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it("answers the first playlist of a muxer started before the stream's first keyframe at its first part, not a whole segment later", async () => {
    const p = await SyntheticPublisher.start(live.server.port, "early");
    publishers.push(p);
    await waitFor(() => live.server.server.registry.streams.get("live/early")?.publisher != null, 5_000, "live/early published");
    const playlist = get(live, "/live/early/index.m3u8").then(async (r) => [r.status, await r.text()] as const);
    await waitFor(() => logged(live, "hls muxer started").some((r) => r.stream_key === "live/early"), 5_000, "the muxer to start");
    // 280 ms from the first keyframe: one 200 ms part, far from the 1 s a segment lasts.
    p.frames(7);
    const [status, text] = await playlist;
    expect(status).toBe(200);
    expect(text).toContain("#EXTINF:0.200,");
    expect(text).toMatch(/#EXT-X-PART:DURATION=0\.200,URI="[^"]+part0\.m4s",INDEPENDENT=YES/);
  });

  it("answers 404 for a stream nobody publishes within timeouts.handshake, and for files of no muxer", async () => {
    const playlist = await get(live, "/live/nobody/index.m3u8");
    expect(playlist.status).toBe(404);
    expect(playlist.headers.get("access-control-allow-origin")).toBe("*");
    expect((await get(live, "/live/nobody/abc-seg0.m4s")).status).toBe(404);
    expect((await get(live, "/live/nobody/other.m3u8")).status).toBe(404);
    // Sessions that played nothing are over: none is left in the connection table.
    expect([...live.server.server.connections.values()].filter((c) => c.protocol === "hls")).toHaveLength(0);
  });
});

describe("HLS over HTTP", () => {
  const live = httpLiveTest("hls-http", { adjust: hls() });

  it("puts Access-Control-Allow-Origin on every reply, answers preflights, never redirects", async () => {
    await livePublisher(live, "cors");
    const text = await (await get(live, "/live/cors/index.m3u8")).text();
    const part = /URI="([^"]+part\d+\.m4s)"/.exec(text)![1];
    const segment = /\n([^#\n]+seg\d+\.m4s)\n/.exec(text)![1];
    const init = /URI="([^"]+init\d+\.mp4)"/.exec(text)![1];
    const replies = await Promise.all(
      [
        ["/live/cors/index.m3u8", "application/vnd.apple.mpegurl", "no-cache"],
        [`/live/cors/${part}`, "video/mp4", "public, max-age=31536000, immutable"],
        [`/live/cors/${segment}`, "video/mp4", "public, max-age=31536000, immutable"],
        [`/live/cors/${init}`, "video/mp4", "public, max-age=31536000, immutable"],
      ].map(async ([path, type, cache]) => {
        const r = await get(live, path);
        await r.arrayBuffer();
        return [path, r.status, r.headers.get("access-control-allow-origin"), r.headers.get("content-type"), r.headers.get("cache-control"), type, cache];
      }),
    );
    for (const [path, status, origin, type, cache, wantType, wantCache] of replies) {
      expect([path, status, origin, type, cache]).toEqual([path, 200, "*", wantType, wantCache]);
    }
    const preflight = await get(live, "/live/cors/index.m3u8", {
      method: "OPTIONS",
      headers: { origin: "https://player.example", "access-control-request-method": "GET" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET, HEAD, OPTIONS");
    const post = await get(live, "/live/cors/index.m3u8", { method: "POST" });
    expect([post.status, post.headers.get("access-control-allow-origin")]).toEqual([405, "*"]);
    const missing = await get(live, "/live/cors/zzzzzzzz-seg0.m4s");
    expect([missing.status, missing.headers.get("access-control-allow-origin")]).toEqual([404, "*"]);
  });

  it("holds a blocking reload until its part is published, and refuses one too far ahead with 400", async () => {
    const p = await livePublisher(live, "block");
    const text = await (await get(live, "/live/block/index.m3u8")).text();
    const sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)![1]);
    const last = sequence + text.split("#EXTINF:").length - 2;
    const far = await get(live, `/live/block/index.m3u8?_HLS_msn=${last + 3}`);
    expect([far.status, far.headers.get("access-control-allow-origin")]).toEqual([400, "*"]);
    expect((await get(live, "/live/block/index.m3u8?_HLS_part=1")).status).toBe(400);
    // Part 1 of the segment after the last complete one: it needs frames the publisher has not sent yet.
    const reload = get(live, `/live/block/index.m3u8?_HLS_msn=${last + 1}&_HLS_part=1`).then(async (r) => [r.status, await r.text()] as const);
    p.frames(20);
    const [status, body] = await reload;
    expect(status).toBe(200);
    const openParts = body.slice(body.lastIndexOf("#EXTINF:")).split("#EXT-X-PART:").length - 1;
    expect(openParts).toBeGreaterThanOrEqual(2);
  });
});

describe("HLS play auth", () => {
  const live = httpLiveTest("hls-auth", {
    adjust: hls((config) => {
      config.auth.mode = "token";
      config.auth.actions = ["play"];
      config.auth.tokens = { "live/secret": "s3" };
    }),
  });

  it("checks play access on every HLS URL; the playlist's query is carried into every URL it lists", async () => {
    const events = recordEvents(live);
    await livePublisher(live, "secret");
    const bare = await get(live, "/live/secret/index.m3u8");
    expect([bare.status, bare.headers.get("access-control-allow-origin")]).toEqual([401, "*"]);
    expect((await get(live, "/live/secret/index.m3u8?token=nope")).status).toBe(403);
    const allowed = await get(live, "/live/secret/index.m3u8?token=s3");
    const text = await allowed.text();
    expect(allowed.status).toBe(200);
    const uris = [...text.matchAll(/URI="([^"]+)"|\n([^#\n][^\n]*)/g)].map((m) => m[1] ?? m[2]);
    expect(uris.length).toBeGreaterThan(2);
    expect(uris.every((u) => u.endsWith("?token=s3"))).toBe(true);
    const part = uris.find((u) => u.includes("-part"))!;
    expect((await get(live, `/live/secret/${part}`)).status).toBe(200);
    const stripped = await get(live, `/live/secret/${part.replace("?token=s3", "")}`);
    expect(stripped.status).toBe(401);
    const failed = events.filter((e: ServerEvent) => e.type === "auth_failed");
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(failed.every((e) => e.data.action === "play" && e.stream_key === "live/secret")).toBe(true);
  });
});

describe("HLS viewers", () => {
  const live = httpLiveTest("hls-viewers", { adjust: hls() });

  it("counts each viewer session in /api/streams, /api/connections and /metrics, with play_start and play_stop", async () => {
    const events = recordEvents(live);
    await livePublisher(live, "watched");
    for (const agent of ["player-a", "player-b", "player-a"]) {
      const r = await get(live, "/live/watched/index.m3u8", { headers: { "user-agent": agent } });
      expect(r.status).toBe(200);
      await r.text();
    }
    const streams = (await (await get(live, "/api/streams")).json()) as { streams: Record<string, unknown>[] };
    expect(streams.streams[0]).toMatchObject({ key: "live/watched", players: 2, players_by_protocol: { hls: 2 } });
    const connections = (await (await get(live, "/api/connections")).json()) as { connections: Record<string, unknown>[] };
    const viewers = connections.connections.filter((c) => c.protocol === "hls");
    expect(viewers.map((c) => [c.role, c.stream_key])).toEqual([
      ["player", "live/watched"],
      ["player", "live/watched"],
    ]);
    const metrics = await (await get(live, "/metrics")).text();
    expect(metrics).toContain('rtmp_players_by_protocol{protocol="hls"} 2');
    expect(metrics).toContain('rtmp_stream_players{stream="live/watched"} 2');
    for (const v of viewers) expect((await get(live, `/api/connections/${v.conn_id}`, { method: "DELETE" })).status).toBe(204);
    const plays = (type: string) => events.filter((e) => e.type === type && e.data.protocol === "hls").map((e) => e.conn_id);
    expect(plays("play_start").sort()).toEqual(viewers.map((v) => v.conn_id as string).sort());
    expect(plays("play_stop").sort()).toEqual(viewers.map((v) => v.conn_id as string).sort());
    const after = (await (await get(live, "/api/streams")).json()) as { streams: Record<string, unknown>[] };
    expect(after.streams[0]).toMatchObject({ players: 0 });
  });
});
