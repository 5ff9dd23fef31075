/**
 * A request whose Host header is no valid host gets 400 and costs at most one debug line: never a 500, nor an
 * error with a stack trace per request that anyone could flood the log with. Sent raw over TCP, as no HTTP
 * client library would send them.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type Config, DEFAULT_CONFIG } from "../../src/config/config.ts";
import { type RtmpServer, startServer } from "../../src/server.ts";
import { waitFor } from "../../support/wait.ts";
import { type LogCapture, capturedLog } from "../helpers/log-capture.ts";
import { RawHttpClient } from "./harness.ts";

const BAD_HOSTS: [string, string][] = [
  ["a space", "a b"],
  ["a port past 65535", "x:99999"],
  ["an unclosed IPv6 bracket", "[::1"],
  ["an empty one", ""],
  ["bytes above 0x7f", "h\xe9llo\xff"],
];

/** GET `path` with `host` for its Host header; resolves with everything received until the server closes. */
async function exchange(port: number, path: string, host: string): Promise<string> {
  const client = await RawHttpClient.request(port, path, { host, connection: "close" });
  await waitFor(() => client.closedAt !== null, 5_000, "the server to answer and close");
  return Buffer.from(client.bytes()).toString("latin1");
}

const statusLine = (response: string) => response.slice(0, response.indexOf("\r\n"));

describe("requests with a bad Host header", () => {
  let server: RtmpServer;
  let logs: LogCapture;
  let port: number;

  beforeAll(async () => {
    const config: Config = structuredClone(DEFAULT_CONFIG);
    config.listen = { host: "127.0.0.1", port: 0 };
    config.http.listen = { host: "127.0.0.1", port: 0 };
    const captured = capturedLog("debug");
    logs = captured.logs;
    server = await startServer(config, captured.log);
    port = server.httpPort!;
  });

  afterAll(() => server.stop());

  for (const [label, host] of BAD_HOSTS) {
    for (const path of ["/healthz", "/live/x.flv?token=s3cret"]) {
      it(`answers 400 to ${label} on ${path.split("?")[0]}, with at most one debug line`, async () => {
        const before = logs.lines.length;
        const response = await exchange(port, path, host);
        expect(statusLine(response)).toBe("HTTP/1.1 400 Bad Request");
        const added = logs.records().slice(before);
        expect(added.length, logs.tail()).toBeLessThanOrEqual(1);
        expect(added.filter((r) => r.level !== "debug")).toEqual([]);
        expect(logs.lines.slice(before).join("\n")).not.toContain("s3cret");
        expect(server.connections.size).toBe(0);
      });
    }
  }

  it("still answers a request whose Host is valid", async () => {
    const response = await exchange(port, "/healthz", `127.0.0.1:${port}`);
    expect(statusLine(response)).toBe("HTTP/1.1 200 OK");
  });
});
