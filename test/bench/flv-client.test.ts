import { describe, expect, it } from "bun:test";
import { toHex } from "../helpers/hex.ts";
import { liveTest } from "../helpers/live-server.ts";
import { waitFor } from "../../support/wait.ts";
import { AUDIO_HEADER, SyntheticPublisher, VIDEO_HEADER } from "../http/harness.ts";
import { FlvClient, type FlvProtocol } from "../../bench/flv-client.ts";
import type { FlvTag } from "../../bench/flv-tag-reader.ts";

describe("FlvClient", () => {
  const live = liveTest("bench-flv-client", {
    adjust: (config) => {
      config.http.listen = { host: "127.0.0.1", port: 0 };
      // An unpublished stream's 404 comes after timeouts.handshake.
      config.timeouts.handshakeMs = 200;
    },
  });
  const url = (protocol: FlvProtocol, path: string) =>
    `${protocol === "ws-flv" ? "ws" : "http"}://127.0.0.1:${live.server.server.httpPort}${path}`;

  for (const protocol of ["http-flv", "ws-flv"] as const) {
    it(`plays over ${protocol}: the stream's tags with the RTMP payloads, then a quiet close()`, async () => {
      const publisher = await SyntheticPublisher.start(live.server.port, `tags-${protocol}`);
      const tags: { type: number; timestamp: number; payload: string }[] = [];
      const closes: (Error | undefined)[] = [];
      const client = await FlvClient.connect(url(protocol, `/live/tags-${protocol}.flv`), protocol, {
        timeoutMs: 5_000,
        onTag: (t: FlvTag) => tags.push({ ...t, payload: toHex(t.payload) }),
        onClose: (err) => closes.push(err),
      });
      try {
        publisher.frames(2);
        await waitFor(() => tags.length >= 7, 5_000, "metadata, two headers and two frames of each kind");
        expect(tags.slice(1, 3)).toEqual([
          { type: 9, timestamp: 0, payload: toHex(VIDEO_HEADER) },
          { type: 8, timestamp: 0, payload: toHex(AUDIO_HEADER) },
        ]);
        expect(tags[0].type).toBe(18);
        expect(tags.slice(3, 7).map((t) => [t.type, t.timestamp, t.payload.slice(0, 10)])).toEqual([
          [9, 0, "1701000000"],
          [8, 0, "af01211004"],
          [9, 40, "2701000000"],
          [8, 40, "af01211004"],
        ]);
        expect(client.bytesReceived).toBeGreaterThan(2 * 1000);
      } finally {
        await client.close();
        await publisher.close();
      }
      expect(closes).toEqual([undefined]);
    });
  }

  it("reports the server closing the connection through onClose", async () => {
    const publisher = await SyntheticPublisher.start(live.server.port, "dropped");
    const closes: (Error | undefined)[] = [];
    const client = await FlvClient.connect(url("http-flv", "/live/dropped.flv"), "http-flv", {
      timeoutMs: 5_000,
      onTag: () => {},
      onClose: (err) => closes.push(err),
    });
    try {
      // The publisher leaving keeps an FLV player waiting; the server stopping closes it.
      await live.stopServer();
      await waitFor(() => closes.length > 0, 5_000, "the close");
      expect(closes.map((e) => e?.message)).toEqual(["the server closed the connection"]);
    } finally {
      await client.close();
      await publisher.close();
    }
  });

  it("rejects a refused HTTP-FLV request with its status, and reports nothing as a close", async () => {
    const closes: (Error | undefined)[] = [];
    const playing = FlvClient.connect(url("http-flv", "/live/nothing.flv"), "http-flv", {
      timeoutMs: 5_000,
      onTag: () => {},
      onClose: (err) => closes.push(err),
    });
    await expect(playing).rejects.toThrow("HTTP 404");
    expect(closes).toEqual([]);
  });

  it("rejects a refused WS-FLV upgrade", async () => {
    const playing = FlvClient.connect(url("ws-flv", "/live/nothing.flv"), "ws-flv", {
      timeoutMs: 5_000,
      onTag: () => {},
      onClose: () => {},
    });
    await expect(playing).rejects.toThrow();
  });

  it("gives up on a server that does not answer within its timeout", async () => {
    // A plain TCP listener that never answers the request.
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const playing = FlvClient.connect(`http://127.0.0.1:${silent.port}/live/x.flv`, "http-flv", {
        timeoutMs: 300,
        onTag: () => {},
        onClose: () => {},
      });
      await expect(playing).rejects.toThrow("no answer within 300 ms");
    } finally {
      silent.stop(true);
    }
  });
});
