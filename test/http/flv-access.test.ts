/**
 * Who gets an HTTP-FLV / WS-FLV stream, and when: exact FLV bytes from the first byte, a stream published
 * after the request, 404 once timeouts.handshake has passed with nothing published, play auth on the URL
 * (401, 403, auth_failed, no secret in the logs), 503 at max_connections, and the end of the response when
 * the publisher leaves or the server shuts down.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { decodeData } from "../../src/protocol/command.ts";
import { readFlvTags } from "../../support/flv-tags.ts";
import { waitFor } from "../../support/wait.ts";
import {
  AUDIO_HEADER,
  dechunk,
  httpLiveTest,
  httpUrl,
  RawHttpClient,
  recordEvents,
  SyntheticPublisher,
  VIDEO_HEADER,
} from "./harness.ts";

const publishers: SyntheticPublisher[] = [];
const clients: RawHttpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(publishers.splice(0).map((p) => p.close()));
});

async function publish(port: number, name: string): Promise<SyntheticPublisher> {
  const p = await SyntheticPublisher.start(port, name);
  publishers.push(p);
  return p;
}

async function request(port: number, path: string, headers?: Record<string, string>): Promise<RawHttpClient> {
  const c = await RawHttpClient.request(port, path, headers);
  clients.push(c);
  return c;
}

const WS_UPGRADE = {
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
};

describe("HTTP-FLV delivery", () => {
  const live = httpLiveTest("http-flv-access", { adjust: (c) => (c.timeouts.handshakeMs = 1500) });

  it("sends the FLV header, metadata at 0, the sequence headers, then the GOP from its keyframe", async () => {
    const p = await publish(live.server.port, "exact");
    // Frames 0..29: keyframes at 0 and 25, so the GOP cache holds frames 25..29.
    p.frames(30);
    await waitFor(() => live.server.server.registry.streams.get("live/exact")?.lastTimestamp === 29 * 40, 5_000, "30 frames in");
    const c = await request(live.server.server.httpPort!, "/live/exact.flv");
    expect(await c.status()).toBe(200);
    const gopDone = () => readFlvTags(dechunk(c.bytes())).some((t) => t.type === 8 && t.timestamp === 29 * 40);
    await waitFor(gopDone, 5_000, "metadata, headers and the GOP up to frame 29");
    const flv = dechunk(c.bytes());
    expect([...flv.subarray(0, 13)]).toEqual([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
    const tags = readFlvTags(flv);
    expect(tags[0].type).toBe(18);
    expect(tags[0].timestamp).toBe(0);
    const metadata = decodeData(tags[0].data);
    expect(metadata.name).toBe("onMetaData");
    expect(metadata.args).toEqual([{ width: 640, height: 360, videocodecid: 7, audiocodecid: 10 }]);
    // The headers exactly as published, stamped with the GOP's first timestamp, then the GOP: its video
    // from the keyframe (frame 25) on.
    const gop = tags.slice(3);
    expect([tags[1].type, tags[1].timestamp, [...tags[1].data]]).toEqual([9, gop[0].timestamp, [...VIDEO_HEADER]]);
    expect([tags[2].type, tags[2].timestamp, [...tags[2].data]]).toEqual([8, gop[0].timestamp, [...AUDIO_HEADER]]);
    const video = gop.filter((t) => t.type === 9);
    expect(video.map((t) => t.timestamp)).toEqual([25, 26, 27, 28, 29].map((i) => i * 40));
    expect(video[0].data[0]).toBe(0x17);
    expect(gop.filter((t) => t.type === 8).at(-1)?.timestamp).toBe(29 * 40);
    // PreviousTagSize after each tag is the tag's size.
    const view = new DataView(flv.buffer, flv.byteOffset, flv.byteLength);
    let at = 13;
    for (const tag of tags) {
      at += 11 + tag.data.length;
      expect(view.getUint32(at)).toBe(11 + tag.data.length);
      at += 4;
    }
    expect(Buffer.from(c.bytes().subarray(0, 200)).toString("latin1").toLowerCase()).toContain("content-type: video/x-flv");
  });

  it("waits for a stream published after the request, within timeouts.handshake", async () => {
    const c = await request(live.server.server.httpPort!, "/live/late.flv");
    // In the table from the moment it is accepted; its response can only start once the stream exists.
    const connections = live.server.server.connections;
    await waitFor(() => connections.size === 1, 5_000, "the request, waiting for its stream");
    expect([...connections.values()].map((w) => w.bytesOut), "nothing is sent before the stream exists").toEqual([0]);
    expect(c.received, "nothing is sent before the stream exists").toBe(0);
    const p = await publish(live.server.port, "late");
    p.frames(3);
    expect(await c.status()).toBe(200);
    await waitFor(() => readFlvTags(dechunk(c.bytes())).some((t) => t.type === 9 && t.data[1] === 1), 5_000, "a video frame");
  });

  it("answers 404 once timeouts.handshake has passed with nothing published, leaving no trace", async () => {
    const events = recordEvents(live);
    const started = performance.now();
    const res = await fetch(httpUrl(live, "/live/nothing.flv"));
    const waited = performance.now() - started;
    expect(res.status).toBe(404);
    expect(waited).toBeGreaterThanOrEqual(1400);
    expect(live.server.server.registry.streams.has("live/nothing")).toBe(false);
    expect(events.map((e) => e.type)).toEqual(["connection_accept", "connection_close"]);
    expect(live.server.server.connections.size).toBe(0);
  });

  it("answers 404 at once for a path that names no stream, and 405 for other methods", async () => {
    for (const path of ["/.flv", "/live/%E0%A4%A.flv", "/live/a%3Ftoken=x.flv"]) {
      expect((await fetch(httpUrl(live, path))).status, path).toBe(404);
    }
    const post = await fetch(httpUrl(live, "/live/x.flv"), { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET");
  });

  it("ends the response after what is queued when the publisher leaves", async () => {
    const p = await publish(live.server.port, "leaving");
    p.frames(5);
    const c = await request(live.server.server.httpPort!, "/live/leaving.flv");
    expect(await c.status()).toBe(200);
    p.frames(5);
    await p.close();
    // The chunked body's terminator: the response is complete, nothing was cut.
    await waitFor(() => Buffer.from(c.bytes()).toString("latin1").endsWith("\r\n0\r\n\r\n"), 5_000, "the end of the body");
    const videoTags = readFlvTags(dechunk(c.bytes())).filter((t) => t.type === 9 && t.data[1] === 1);
    expect(videoTags.map((t) => t.timestamp)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * 40));
    await waitFor(() => live.server.server.connections.size === 0, 5_000, "the player to be gone");
  });

  it("ends playing WebSocket and HTTP players when the server shuts down", async () => {
    const p = await publish(live.server.port, "shutdown");
    p.frames(5);
    const http = await request(live.server.server.httpPort!, "/live/shutdown.flv");
    const ws = await request(live.server.server.httpPort!, "/live/shutdown.flv", WS_UPGRADE);
    expect(await http.status()).toBe(200);
    expect(await ws.status()).toBe(101);
    await live.stopServer();
    const ended = () => Buffer.from(http.bytes()).toString("latin1").endsWith("\r\n0\r\n\r\n");
    await waitFor(ended, 5_000, "the end of the HTTP body");
    await waitFor(() => ws.closedAt !== null, 5_000, "the WebSocket to close");
  });
});

describe("HTTP-FLV idle players", () => {
  const live = httpLiveTest("http-flv-idle", { adjust: (c) => (c.timeouts.readMs = 800) });

  it("closes a player that neither sends nor takes a byte for timeouts.read (a silent stream)", async () => {
    const p = await publish(live.server.port, "silent");
    p.frames(1);
    const c = await request(live.server.server.httpPort!, "/live/silent.flv");
    expect(await c.status()).toBe(200);
    // The publisher stays (it answers the server's pings); its stream just carries nothing more.
    await waitFor(() => Buffer.from(c.bytes()).toString("latin1").endsWith("\r\n0\r\n\r\n"), 5_000, "the idle player's response to end");
    const closed = live.server.logs.records().find((r) => r.msg === "connection closed" && String(r.reason).startsWith("idle"));
    expect(closed?.reason).toBe("idle for 800 ms");
    expect(live.server.server.registry.streams.get("live/silent")?.publisher).not.toBeNull();
  });
});

describe("HTTP-FLV play auth", () => {
  const live = httpLiveTest("http-flv-auth", {
    adjust: (c) => {
      c.auth.mode = "token";
      c.auth.actions = ["play"];
      c.auth.tokens = { "live/secure": "s3cret-token" };
    },
  });

  it("refuses a request without a token (401) or with a wrong one (403), and plays with the right one", async () => {
    const events = recordEvents(live);
    const p = await publish(live.server.port, "secure");
    p.frames(3);
    const port = live.server.server.httpPort!;
    const none = await fetch(httpUrl(live, "/live/secure.flv"));
    expect(none.status).toBe(401);
    const wrong = await fetch(httpUrl(live, "/live/secure.flv?token=wrong-guess"));
    expect(wrong.status).toBe(403);
    const wsNone = await request(port, "/live/secure.flv", WS_UPGRADE);
    expect(await wsNone.status()).toBe(401);

    const failed = events.filter((e) => e.type === "auth_failed");
    expect(failed).toHaveLength(3);
    for (const e of failed) expect(e).toMatchObject({ stream_key: "live/secure", data: { action: "play" } });
    const good = await request(port, "/live/secure.flv?token=s3cret-token");
    expect(await good.status()).toBe(200);
    const ws = await request(port, "/live/secure.flv?token=s3cret-token", WS_UPGRADE);
    expect(await ws.status()).toBe(101);
    expect(live.server.server.stats.authDenied).toBe(3);
    await waitFor(() => live.server.server.registry.streams.get("live/secure")?.subscribers.length === 2, 5_000, "two players");
    const logs = live.server.logs.lines.join("\n");
    expect(logs).not.toContain("s3cret-token");
    expect(logs).not.toContain("wrong-guess");
  });
});

describe("HTTP-FLV and max_connections", () => {
  const live = httpLiveTest("http-flv-full", { adjust: (c) => (c.maxConnections = 2) });

  it("counts HTTP players in max_connections and answers 503 when full", async () => {
    const p = await publish(live.server.port, "full");
    p.frames(3);
    const first = await request(live.server.server.httpPort!, "/live/full.flv");
    expect(await first.status()).toBe(200);
    const refused = await fetch(httpUrl(live, "/live/full.flv"));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(live.server.logs.records().some((r) => r.msg === "connection refused: max_connections reached")).toBe(true);
    first.close();
    await waitFor(() => live.server.server.connections.size === 1, 5_000, "the first player to be gone");
    const again = await request(live.server.server.httpPort!, "/live/full.flv");
    expect(await again.status()).toBe(200);
  });
});
