/**
 * The JSON API, /healthz and the HTTP bounds, every path and status: streams and connections as they are,
 * closing a connection by id, the bearer token on /api/* only, 404/405/413/431, and stream paths parsed
 * into keys (never into file names).
 */
import { afterEach, describe, expect, it } from "bun:test";
import { flvStreamName } from "../../src/flv/flv-endpoint.ts";
import { waitFor } from "../../support/wait.ts";
import { httpLiveTest, httpUrl, RawHttpClient, SyntheticPublisher } from "./harness.ts";

const publishers: SyntheticPublisher[] = [];
const clients: RawHttpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(publishers.splice(0).map((p) => p.close()));
});

type Json = Record<string, unknown> & { streams: Record<string, unknown>[]; connections: Record<string, unknown>[] };

async function getJson(url: string, init?: RequestInit): Promise<Json> {
  const res = await fetch(url, init);
  expect(res.status, url).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  return (await res.json()) as Json;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("the JSON API", () => {
  const live = httpLiveTest("http-api", {
    adjust: (c) => {
      c.relay.destinations = [{ url: "rtmp://127.0.0.1:9/relay?key=hidden", streams: ["live/main"] }];
    },
  });

  it("lists streams with publisher, codecs, rates, players, bytes and relays", async () => {
    const p = await SyntheticPublisher.start(live.server.port, "main");
    publishers.push(p);
    p.realTime();
    const rtmp = await live.rawPlayer("main");
    const http = await RawHttpClient.request(live.server.server.httpPort!, "/live/main.flv");
    clients.push(http);
    await live.rawPlayer("waiting");
    await live.server.waitForPlayers("main", 2);
    await waitFor(() => http.received > 5000 && rtmp.media().length > 10, 5_000, "both players to get media");

    const { streams } = await getJson(httpUrl(live, "/api/streams"));
    expect(streams.map((s) => s.key)).toEqual(["live/main", "live/waiting"]);
    const [main, waiting] = streams;
    expect(main).toMatchObject({
      key: "live/main",
      app: "live",
      name: "main",
      publisher: { conn_id: expect.stringMatching(/^c\d{6}$/), protocol: "rtmp" },
      video: { codec: "H264", width: 640, height: 360, profile: "Main", level: "3.0" },
      audio: { codec: "AAC", sample_rate: 44100, channels: 2, profile: "LC" },
      players: 2,
      players_by_protocol: { rtmp: 1, "http-flv": 1 },
      frames_dropped: 0,
      recording: null,
    });
    const publisher = main.publisher as Record<string, unknown>;
    expect(publisher.remote_addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(publisher.since).toMatch(ISO);
    expect(typeof (main.video as Record<string, unknown>).fps).toBe("number");
    expect(main.bitrate_kbps as number).toBeGreaterThan(0);
    expect(main.bytes_in as number).toBeGreaterThan(1_000);
    expect(main.bytes_out as number).toBeGreaterThan(1_000);
    // The relay destination's URL without its query (a stream key there is a secret).
    expect(main.relays).toEqual([expect.objectContaining({ url: "rtmp://127.0.0.1:9/relay/main", state: expect.any(String) })]);
    expect(JSON.stringify(streams)).not.toContain("hidden");
    expect(waiting).toMatchObject({ key: "live/waiting", publisher: null, video: null, audio: null, players: 1, bitrate_kbps: 0, relays: [] });
  });

  it("lists connections, shows one, and closes one by id (204), 404 for unknown ids", async () => {
    const p = await SyntheticPublisher.start(live.server.port, "main");
    publishers.push(p);
    p.frames(5);
    const http = await RawHttpClient.request(live.server.server.httpPort!, "/live/main.flv");
    clients.push(http);
    expect(await http.status()).toBe(200);
    const { connections } = await getJson(httpUrl(live, "/api/connections"));
    expect(connections).toHaveLength(2);
    const publisher = connections.find((c) => c.role === "publisher")!;
    const player = connections.find((c) => c.role === "player")!;
    expect(publisher).toMatchObject({ protocol: "rtmp", stream_key: "live/main" });
    expect(player).toMatchObject({ protocol: "http-flv", stream_key: "live/main", bytes_in: 0 });
    for (const c of connections) {
      expect(Object.keys(c).sort()).toEqual(["bytes_in", "bytes_out", "conn_id", "protocol", "remote_addr", "role", "since", "stream_key"]);
      expect(c.since).toMatch(ISO);
      expect(c.remote_addr).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    expect(publisher.bytes_in as number).toBeGreaterThan(1000);
    expect(player.bytes_out as number).toBeGreaterThan(1000);

    const one = await getJson(httpUrl(live, `/api/connections/${player.conn_id}`));
    expect(one.conn_id).toBe(player.conn_id);
    expect((await fetch(httpUrl(live, "/api/connections/c999999"))).status).toBe(404);

    const closed = await fetch(httpUrl(live, `/api/connections/${player.conn_id}`), { method: "DELETE" });
    expect(closed.status).toBe(204);
    await waitFor(() => Buffer.from(http.bytes()).toString("latin1").endsWith("\r\n0\r\n\r\n"), 5_000, "the player's response to end");
    await waitFor(() => live.server.server.connections.get(String(player.conn_id)) === undefined, 5_000, "the player to be gone");
    const again = await fetch(httpUrl(live, `/api/connections/${player.conn_id}`), { method: "DELETE" });
    expect(again.status).toBe(404);

    expect((await fetch(httpUrl(live, `/api/connections/${publisher.conn_id}`), { method: "DELETE" })).status).toBe(204);
    await waitFor(() => !live.server.server.registry.streams.has("live/main"), 5_000, "the stream to end with its publisher");
  });

  it("answers 404 for unknown paths, 405 for wrong methods, 413 for a body, 431 for huge headers", async () => {
    for (const path of ["/api/nope", "/api/streams/x", "/api/connections/a/b", "/nope", "/live/x.mp4", "/api"]) {
      expect((await fetch(httpUrl(live, path))).status, path).toBe(404);
    }
    const cases: [string, string, string][] = [
      ["POST", "/api/streams", "GET, HEAD"],
      ["DELETE", "/api/connections", "GET, HEAD"],
      ["PUT", "/api/connections/c000001", "GET, HEAD, DELETE"],
      ["POST", "/metrics", "GET, HEAD"],
      ["DELETE", "/healthz", "GET, HEAD"],
      ["POST", "/", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(httpUrl(live, path), { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get("allow")).toBe(allow);
    }
    const big = await fetch(httpUrl(live, "/api/streams"), { method: "POST", body: "x".repeat(10_000) });
    expect(big.status).toBe(413);
    const huge = await RawHttpClient.request(live.server.server.httpPort!, "/healthz", { "x-filler": "a".repeat(20_000) });
    clients.push(huge);
    expect(await huge.status()).toBe(431);
  });

  it("says ok on /healthz", async () => {
    const res = await fetch(httpUrl(live, "/healthz"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok\n");
  });
});

describe("the JSON API with http.api_token", () => {
  const live = httpLiveTest("http-api-token", {
    adjust: (c) => (c.http.apiToken = "api-s3cret"),
  });

  it("needs Authorization: Bearer TOKEN on /api/*, and only there", async () => {
    const none = await fetch(httpUrl(live, "/api/streams"));
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toStartWith("Bearer");
    for (const header of ["Bearer wrong", "api-s3cret", "Basic YXBpLXMzY3JldA==", "Bearer api-s3cret2", "Bearer api-s3cre"]) {
      expect((await fetch(httpUrl(live, "/api/streams"), { headers: { authorization: header } })).status, header).toBe(401);
    }
    expect((await fetch(httpUrl(live, "/api/connections/c000001"), { method: "DELETE" })).status).toBe(401);
    const auth = { authorization: "Bearer api-s3cret" };
    expect((await fetch(httpUrl(live, "/api/streams"), { headers: auth })).status).toBe(200);
    expect((await fetch(httpUrl(live, "/api/connections"), { headers: auth })).status).toBe(200);
    expect((await fetch(httpUrl(live, "/api/nope"), { headers: auth })).status).toBe(404);
    for (const path of ["/healthz", "/metrics", "/"]) expect((await fetch(httpUrl(live, path))).status, path).toBe(200);
  });
});

describe("the recording field", () => {
  const live = httpLiveTest("http-api-recording", {
    adjust: (c) => {
      c.recording.enabled = true;
      c.recording.dir = live.scratch.path;
    },
  });

  it("names the file a stream is recorded to", async () => {
    const p = await SyntheticPublisher.start(live.server.port, "rec");
    publishers.push(p);
    p.frames(30);
    const recording = async () => (await getJson(httpUrl(live, "/api/streams"))).streams[0]?.recording;
    await waitFor(async () => typeof (await recording()) === "string", 5_000, "a recording file name");
    expect(await recording()).toMatch(/^live_rec_\d{8}_\d{6}\.flv$/);
  });
});

describe("stream paths", () => {
  it("become keys: segments decoded, dot segments and empty ones dropped, a '?' or bad escape refused", () => {
    expect(flvStreamName("/live/test.flv")).toMatchObject({ app: "live", name: "test", key: "live/test" });
    expect(flvStreamName("/live/a%20b.flv")?.key).toBe("live/a b");
    expect(flvStreamName("/live/sub/cam.flv")).toMatchObject({ app: "live", name: "sub/cam" });
    expect(flvStreamName("/live/../../etc/passwd.flv")?.key).toBe("live/etc/passwd");
    expect(flvStreamName("/solo.flv")).toMatchObject({ app: "", name: "solo", key: "solo" });
    expect(flvStreamName("/live/%2e%2e/x.flv")?.key).toBe("live/x");
    for (const bad of ["/.flv", "/live/a%3Fb.flv", "/live/%E0%A4%A.flv", "/live/a%00b.flv", "/live/test.mp4"]) {
      expect(flvStreamName(bad), bad).toBeNull();
    }
  });
});
