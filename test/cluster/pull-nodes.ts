/**
 * What the pull tests share: in-process nodes on 127.0.0.1 (an edge whose cluster.origins name another), a
 * node as operators run it (a process, to be killed), the events a node emits, its JSON API, and real players
 * of a node's stream over every protocol, each keeping what it received in a file for ffprobe.
 */
import { expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../../src/config/config.ts";
import type { ServerEvent } from "../../src/events/events.ts";
import type { Child, Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { waitFor } from "../../support/wait.ts";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";

/** rtmp://127.0.0.1:PORT: a node's RTMP base URL, as cluster.origins and /api/streams' origin give it. */
export function baseUrl(port: number): string {
  return `rtmp://127.0.0.1:${port}`;
}

/** A node with HTTP (API, HTTP-FLV, WS-FLV, HLS) on an OS-chosen port, pulling from `origins`. */
export function startEdge(origins: string[], adjust?: (config: Config) => void): Promise<TestServer> {
  return startTestServer((config) => {
    config.http.listen = { host: "127.0.0.1", port: 0 };
    config.hls.enabled = true;
    config.cluster.origins = origins;
    adjust?.(config);
  });
}

const CLI = resolve(import.meta.dir, "../../src/cli.ts");

/** `bun src/cli.ts --config FILE` on a free port, `yaml` (more top-level lines) in its config; once listening. */
export async function startNodeProcess(children: Children, dir: string, yaml: string[] = []): Promise<{ node: Child; port: number }> {
  const port = freePort();
  const config = join(dir, `node-${port}.yaml`);
  writeFileSync(config, [`listen: "127.0.0.1:${port}"`, ...yaml, ""].join("\n"));
  const node = children.spawn(`rtmp-server :${port}`, ["bun", CLI, "--config", config]);
  const listening = () => node.stdout.split("\n").some((line) => line.includes('"msg":"listening"'));
  await waitFor(() => !node.running || listening(), 10_000, "the node to listen", () => node.describe());
  expect(node.running, node.describe()).toBe(true);
  return { node, port };
}

/** Every event `node` emits from now on. */
export function recordEvents(node: TestServer): ServerEvent[] {
  const events: ServerEvent[] = [];
  node.server.events.subscribe((e) => events.push(e));
  return events;
}

/** http://127.0.0.1:PORT of the node, plus `path`. */
export function httpUrl(node: TestServer, path: string): string {
  return `http://127.0.0.1:${node.server.httpPort}${path}`;
}

export async function getJson<T>(node: TestServer, path: string): Promise<T> {
  const response = await fetch(httpUrl(node, path));
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

/** Subscribed players (RTMP, HTTP-FLV, WS-FLV) of a stream on the node, 0 if it has none. */
export function subscribers(node: TestServer, key: string): number {
  return node.server.registry.streams.get(key)?.subscribers.length ?? 0;
}

/** FFmpeg copying `seconds` of `url` (RTMP, HTTP-FLV or an HLS playlist) to `out`; resolves once it exited 0. */
export async function recordFor(children: Children, url: string, seconds: number, out: string): Promise<string> {
  const player = children.spawn(`player ${url}`, [
    "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
    "-i", url, "-t", String(seconds), "-c", "copy", "-y", out,
  ]);
  expect(await player.waitExit(30_000), player.describe()).toBe(0);
  return out;
}

/** A WS-FLV player: the FLV bytes of `url` (ws://) until `bytes` have come, written to `out`. */
export async function recordWebSocket(url: string, bytes: number, out: string): Promise<string> {
  const parts: Uint8Array[] = [];
  let received = 0;
  let closed = false;
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (e) => {
    const part = new Uint8Array(e.data as ArrayBuffer);
    parts.push(part);
    received += part.length;
  };
  ws.onclose = () => (closed = true);
  try {
    await waitFor(() => received >= bytes || closed, 30_000, `${bytes} bytes of ${url}`);
    expect(received, `the WebSocket closed after ${received} bytes`).toBeGreaterThanOrEqual(bytes);
  } finally {
    ws.close();
  }
  await Bun.write(out, Buffer.concat(parts));
  return out;
}
