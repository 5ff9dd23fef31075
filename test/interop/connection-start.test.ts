/**
 * A connection's start never throws, whatever the peer does: clients that reset (RST) at every point of
 * their start, over RTMP, RTMPS and HTTP, cost no error-level line and leave nothing in the connection table.
 * "Before open" is made real by blocking the server's event loop while a child process connects and resets:
 * the kernel completes the TCP handshake and takes the RST before the server has accepted the socket.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { Socket } from "bun";
import { encodeCommand } from "../../src/protocol/command.ts";
import { encodeMessage } from "../../src/protocol/chunk-writer.ts";
import { ClientHandshake } from "../../src/protocol/handshake.ts";
import { Csid, MessageType } from "../../src/protocol/message.ts";
import { RtmpClient } from "../../src/relay/rtmp-client.ts";
import { waitFor, within } from "../../support/wait.ts";
import { concat } from "../../support/bytes.ts";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";
import { scratchDir } from "../helpers/media.ts";
import { selfSignedCertificate } from "../helpers/tls-certificate.ts";

/** How far a client gets into its start before it resets. */
type RtmpPoint = "connected" | "TLS done" | "half of C0C1" | "C0C1 answered" | "handshake done" | "connect answered";
type HttpPoint = "connected" | "half a request line" | "waiting for its stream" | "waiting for its stream (WebSocket)" | "playing";

const RTMP_POINTS: RtmpPoint[] = ["connected", "half of C0C1", "C0C1 answered", "handshake done", "connect answered"];
const RTMPS_POINTS: RtmpPoint[] = ["connected", "TLS done", ...RTMP_POINTS.slice(1)];
const HTTP_POINTS: HttpPoint[] = ["connected", "half a request line", "waiting for its stream", "waiting for its stream (WebSocket)", "playing"];
/** Resets per point: the table must be back to where it was after each. */
const REPEATS = 3;

/** `count` connections that reset right after the TCP handshake, made while this process (the server's) is blocked. */
function resetBeforeAccept(port: number, count: number): void {
  const script = [
    `for (let i = 0; i < ${count}; i++) {`,
    `  const socket = await Bun.connect({ hostname: "127.0.0.1", port: ${port}, socket: { data() {} } });`,
    "  socket.terminate();",
    "}",
  ].join("\n");
  const child = Bun.spawnSync([process.execPath, "-e", script]);
  if (child.exitCode !== 0) throw new Error(`the resetting child failed: ${child.stderr.toString()}`);
}

/** A raw TCP (or TLS, trusting anything) connection that keeps what it receives. */
async function rawConnection(port: number, tls: boolean) {
  const chunks: Uint8Array[] = [];
  const tlsDone = Promise.withResolvers<void>();
  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    tls: tls ? { rejectUnauthorized: false } : undefined,
    socket: {
      binaryType: "uint8array",
      data: (_s, bytes: Uint8Array) => {
        chunks.push(bytes);
      },
      handshake: () => tlsDone.resolve(),
      close() {},
      error() {},
    },
  });
  const received = () => concat(...chunks);
  return { socket, tlsDone: tlsDone.promise, received };
}

describe("connections reset at every point of their start", () => {
  const scratch = scratchDir("connection-start");
  let live: TestServer;
  let publisher: RtmpClient;

  beforeAll(async () => {
    const certificate = await selfSignedCertificate(scratch.path);
    live = await startTestServer((config) => {
      config.tls = { listen: { host: "127.0.0.1", port: 0 }, ...certificate };
      config.http.listen = { host: "127.0.0.1", port: 0 };
    });
    // A stream for the HTTP player that gets as far as its response.
    publisher = await RtmpClient.connect(live.url("on"));
    await publisher.publish(await publisher.createStream(), "on");
  });

  afterAll(async () => {
    await publisher.close();
    await live.stop();
    scratch.remove();
  });

  const table = () => live.server.connections.size;
  const errors = () => live.logs.records().filter((r) => r.level === "error");
  const count = (msg: string) => live.logs.records().filter((r) => r.msg === msg).length;
  const backTo = (size: number, what: string) => waitFor(() => table() === size, 5_000, `the table back to ${size} after ${what}`, () => live.logs.tail());

  /** Goes as far as `point` into an RTMP start, then resets. */
  async function rtmpResetAt(port: number, tls: boolean, point: RtmpPoint): Promise<void> {
    const c = await rawConnection(port, tls);
    if (tls && point !== "connected") await within(c.tlsDone, 5_000, "the TLS handshake");
    const handshake = new ClientHandshake();
    const c0c1 = handshake.start();
    if (point === "half of C0C1") c.socket.write(c0c1.subarray(0, c0c1.length >> 1));
    if (point === "C0C1 answered" || point === "handshake done" || point === "connect answered") {
      c.socket.write(c0c1);
      await waitFor(() => c.received().length >= 1 + 2 * 1536, 5_000, "S0 S1 S2");
    }
    if (point === "handshake done" || point === "connect answered") {
      const connects = count("connect");
      const step = handshake.push(c.received());
      c.socket.write(step.send!);
      if (point === "connect answered") {
        const connect = encodeCommand("connect", 1, { app: "live", tcUrl: `rtmp://127.0.0.1:${port}/live` });
        c.socket.write(encodeMessage({ csid: Csid.Command, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: connect }, 128));
        await waitFor(() => count("connect") > connects, 5_000, "the server's connect");
      } else {
        // The server's control burst follows the handshake's end.
        await waitFor(() => c.received().length > 1 + 2 * 1536, 5_000, "the handshake's end");
      }
    }
    c.socket.terminate();
  }

  /** Goes as far as `point` into an HTTP request, then resets. */
  async function httpResetAt(port: number, point: HttpPoint): Promise<void> {
    const c = await rawConnection(port, false);
    const request = (path: string, extra = "") => c.socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${extra}\r\n`);
    const players = (protocol: string) => [...live.server.connections.values()].filter((x) => x.protocol === protocol).length;
    if (point === "half a request line") c.socket.write("GET /live/nob");
    if (point === "waiting for its stream") {
      request("/live/nobody.flv");
      await waitFor(() => players("http-flv") > 0, 5_000, "the waiting HTTP-FLV player");
    }
    if (point === "waiting for its stream (WebSocket)") {
      request("/live/nobody.flv", "upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n");
      await waitFor(() => players("ws-flv") > 0, 5_000, "the waiting WS-FLV player");
    }
    if (point === "playing") {
      request("/live/on.flv");
      await waitFor(() => Buffer.from(c.received()).toString("latin1").startsWith("HTTP/1.1 200"), 5_000, "the FLV response");
    }
    c.socket.terminate();
  }

  /** Resets before accept, then REPEATS resets at each point, the table back where it was after each; no error logged. */
  async function resetEverywhere<P extends string>(port: number, points: P[], resetAt: (point: P) => Promise<void>): Promise<void> {
    const baseline = table();
    resetBeforeAccept(port, 5);
    await backTo(baseline, "resets before accept");
    for (const point of points) {
      for (let i = 0; i < REPEATS; i++) await resetAt(point);
      await backTo(baseline, `resets at "${point}"`);
    }
    expect(errors()).toEqual([]);
  }

  it("on the RTMP listener, before open() and at every step of the handshake and connect", () =>
    resetEverywhere(live.port, RTMP_POINTS, (point) => rtmpResetAt(live.port, false, point)));

  it("on the RTMPS listener, before open(), during and after the TLS handshake, and at every RTMP step", () =>
    resetEverywhere(live.server.tlsPort!, RTMPS_POINTS, (point) => rtmpResetAt(live.server.tlsPort!, true, point)));

  it("on the HTTP listener, before accept, within the request, waiting for a stream and playing", () =>
    resetEverywhere(live.server.httpPort!, HTTP_POINTS, (point) => httpResetAt(live.server.httpPort!, point)));

  it("leaves only the publisher in the table, and nothing once it leaves", async () => {
    expect([...live.server.connections.values()].map((c) => c.role)).toEqual(["publisher"]);
    await publisher.close();
    await backTo(0, "the publisher's close");
  });
});
