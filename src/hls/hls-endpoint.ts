/**
 * HLS on the HTTP listener: GET /{app}/{name}/index.m3u8 and the files it lists under /{app}/{name}/. Every
 * request belongs to a viewer (viewer.ts), whose play access is checked (the query of the playlist URL is
 * carried into every URL it lists); the playlist of a stream not published yet waits up to
 * timeouts.handshake, then 404. Every reply carries Access-Control-Allow-Origin: *, OPTIONS preflights are
 * answered, nothing redirects; playlists are not cached, files (names unique per muxer) are for good.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { AccessCheck } from "../shared/access.ts";
import type { ConnectionTable } from "../shared/connections.ts";
import { hostPort } from "../shared/host-port.ts";
import { textResponse } from "../shared/http-responses.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import { parseStreamName, type StreamName } from "../shared/stream-name.ts";
import { PublishWaiters } from "../streams/publish-waiters.ts";
import type { StreamSource } from "../streams/stream-source.ts";
import type { HlsMuxer, HlsReply } from "./muxer.ts";
import type { HlsMuxers } from "./muxers.ts";
import { HlsViewer, type ViewerContext } from "./viewer.ts";

export interface HlsEndpointContext {
  muxers: HlsMuxers;
  /** Asked for a stream nothing publishes here (the stream registry, which asks the cluster). */
  registry: StreamSource;
  connections: ConnectionTable;
  access: AccessCheck;
  events: EventChannel;
  stats: ServerStats;
  log: Logger;
}

export interface HlsEndpointSettings {
  /** timeouts.handshake: how long a playlist request for a stream not published yet waits before its 404. */
  handshakeMs: number;
  /** For the log line of a refusal. */
  maxConnections: number;
}

/** What the endpoint needs of Bun's server: the client's address, and a request's own timeout. */
export interface RequestInfo {
  requestIP(request: Request): { address: string; port: number } | null;
  timeout(request: Request, seconds: number): void;
}

const PLAYLIST = "index.m3u8";
const CORS = { "access-control-allow-origin": "*" };
const PREFLIGHT = {
  ...CORS,
  "access-control-allow-methods": "GET, HEAD, OPTIONS",
  "access-control-allow-headers": "*",
  "access-control-max-age": "86400",
};
/** A viewer silent this long has left (at least three segments' time: plain players poll once a segment). */
const VIEWER_IDLE_MS = 10_000;
/** A viewer's access is asked again after this long (a signed URL expires, a callback changes its mind). */
const AUTH_RECHECK_MS = 10_000;
/** Playlist requests waiting for a stream to be published, at most (each is also a viewer in the table). */
const MAX_PUBLISH_WAITS = 1024;
/** Bun's idle timer would cut a request that waits (blocking reload, hinted part, a publish): longer than any wait. */
const REQUEST_TIMEOUT_S = 30;
/** Stream directories whose parse is remembered (every request of a viewer names the same one). */
const REMEMBERED_TARGETS = 1024;
/** The headers of every 200 reply, built once (a Response copies them; a plain object would be converted each time). */
const PLAYLIST_HEADERS = new Headers({ ...CORS, "content-type": "application/vnd.apple.mpegurl", "cache-control": "no-cache" });
const FILE_CACHE = "public, max-age=31536000, immutable";
const FILE_HEADERS = new Map(
  ["video/mp4", "audio/mp4"].map((type) => [type, new Headers({ ...CORS, "content-type": type, "cache-control": FILE_CACHE })]),
);

/** Whether a path is one the HLS endpoint answers (the router's test). */
export function isHlsPath(path: string): boolean {
  return /\.(m3u8|m4s|mp4)$/.test(path);
}

/** The stream and the file a path names (`/{app}/{name}/{file}`), or null (bad encoding, no stream, a `?`). */
export function hlsTarget(path: string): { name: StreamName; file: string } | null {
  const slash = path.lastIndexOf("/");
  if (slash <= 0) return null;
  let decoded: string;
  try {
    decoded = path.slice(0, slash).split("/").map(decodeURIComponent).join("/");
  } catch {
    return null;
  }
  // A query belongs in the URL's query, never in the key.
  if (decoded.includes("?")) return null;
  const name = parseStreamName("", decoded);
  return name === null ? null : { name, file: path.slice(slash + 1) };
}

export class HlsEndpoint {
  /** hlsTarget()'s stream names by directory (`/{app}/{name}`), the oldest forgotten first. */
  private readonly targets = new Map<string, StreamName | null>();
  /** Viewers by session key. */
  private readonly viewers = new Map<string, HlsViewer>();
  /** Viewers playing each stream: a muxer stops when its stream has none left. */
  private readonly playing = new Map<string, Set<HlsViewer>>();
  /** When each viewer's access was last allowed (performance.now()). */
  private readonly allowedAt = new WeakMap<HlsViewer, number>();
  private readonly waiters: PublishWaiters;
  private readonly viewerContext: ViewerContext;
  private readonly idleMs: number;
  private publishWaits = 0;
  private stopping = false;

  constructor(
    private readonly context: HlsEndpointContext,
    private readonly settings: HlsEndpointSettings,
  ) {
    this.waiters = new PublishWaiters(context.events, context.registry);
    const { events, stats, log, connections } = context;
    this.viewerContext = { events, stats, log, connections, onEnded: (viewer) => this.ended(viewer) };
    this.idleMs = Math.max(VIEWER_IDLE_MS, 3 * context.muxers.settings.segmentMs);
  }

  /** HLS viewers of a stream now. */
  viewerCount(key: string): number {
    return this.playing.get(key)?.size ?? 0;
  }

  handle(request: Request, url: URL, server: RequestInfo): Response | Promise<Response> {
    const target = this.target(url.pathname);
    if (target === null) return textResponse(404, "not found", CORS);
    if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: PREFLIGHT });
    if (request.method !== "GET" && request.method !== "HEAD") {
      return textResponse(405, "method not allowed", { ...CORS, allow: "GET, HEAD, OPTIONS" });
    }
    const { name, file } = target;
    if (!this.context.muxers.offered(name.key) || (file !== PLAYLIST && file.endsWith(".m3u8"))) {
      return textResponse(404, "not found", CORS);
    }
    if (this.stopping) return textResponse(503, "server shutting down", { ...CORS, "retry-after": "5" });
    const carried = carriedQuery(url);
    const address = server.requestIP(request);
    const viewer = this.viewer(request, address, name, carried);
    if (viewer === null) return textResponse(503, "server full", { ...CORS, "retry-after": "5" });
    server.timeout(request, REQUEST_TIMEOUT_S);
    viewer.inFlight++;
    let response: Response | Promise<Response>;
    try {
      response = this.serve(viewer, request, url, file, carried, address?.address ?? "");
    } catch (err) {
      this.answered(viewer);
      throw err;
    }
    if (!(response instanceof Promise)) {
      this.answered(viewer);
      return response;
    }
    return response.finally(() => this.answered(viewer));
  }

  /** Shutdown: waiting requests and viewers end, every muxer stops. */
  stop(): void {
    this.stopping = true;
    this.waiters.close();
    for (const viewer of [...this.viewers.values()]) viewer.close("server shutting down");
    this.context.muxers.stopAll("server shutting down");
  }

  /** hlsTarget() of `path`, remembered for its directory. */
  private target(path: string): { name: StreamName; file: string } | null {
    const slash = path.lastIndexOf("/");
    const dir = path.slice(0, slash);
    let name = this.targets.get(dir);
    if (name === undefined) {
      name = hlsTarget(path)?.name ?? null;
      if (this.targets.size >= REMEMBERED_TARGETS) this.targets.delete(this.targets.keys().next().value!);
      this.targets.set(dir, name);
    }
    return name === null ? null : { name, file: path.slice(slash + 1) };
  }

  /** A request of `viewer` is answered. */
  private answered(viewer: HlsViewer): void {
    viewer.inFlight--;
    viewer.asked();
    // A session whose requests all ended before it played anything is over (refused, not found, busy).
    if (viewer.inFlight === 0 && !viewer.playing) viewer.close("nothing played");
  }

  /**
   * A viewer already playing, allowed a moment ago, whose stream's muxer runs, is answered at once when the
   * muxer has the answer (most requests at the live edge); any other request goes the whole way (start()).
   */
  private serve(viewer: HlsViewer, request: Request, url: URL, file: string, carried: string, clientIp: string): Response | Promise<Response> {
    const muxer = viewer.playing && viewer.open && this.recentlyAllowed(viewer) ? this.context.muxers.get(viewer.name.key) : null;
    if (muxer === null) return this.start(viewer, request, url, file, carried, clientIp);
    return this.ask(muxer, viewer, request, url, file, carried);
  }

  /** Access check, the stream's muxer (started, or waited for), then the playlist or the file. */
  private async start(viewer: HlsViewer, request: Request, url: URL, file: string, carried: string, clientIp: string): Promise<Response> {
    const refused = this.recentlyAllowed(viewer) ? null : await this.authorize(viewer, url, clientIp);
    if (refused !== null) {
      viewer.close("play not authorized");
      return refused;
    }
    const { muxers } = this.context;
    const key = viewer.name.key;
    let muxer = muxers.get(key);
    if (muxer === null && file === PLAYLIST) {
      const started = await this.started(key, request.signal);
      if (started === "busy") return textResponse(503, "too many requests waiting", { ...CORS, "retry-after": "1" });
      muxer = started;
    }
    if (muxer === null) {
      if (!viewer.playing && file === PLAYLIST) viewer.close(`stream not found within ${this.settings.handshakeMs} ms`);
      return textResponse(404, file === PLAYLIST ? "stream not found" : "not found", CORS);
    }
    if (!viewer.open) return textResponse(503, "connection closed", CORS);
    this.play(viewer);
    return this.ask(muxer, viewer, request, url, file, carried);
  }

  /** The playlist or the file from the muxer, as a response (at once when it has it). */
  private ask(muxer: HlsMuxer, viewer: HlsViewer, request: Request, url: URL, file: string, carried: string): Response | Promise<Response> {
    const reply =
      file === PLAYLIST ? muxer.playlist(url.searchParams, carried === "" ? "" : `?${carried}`, request.signal) : muxer.file(file, request.signal);
    return reply instanceof Promise ? reply.then((r) => this.respond(r, viewer)) : this.respond(reply, viewer);
  }

  /** The session this request belongs to, made (in the table) if it is the first; null when the table is full. */
  private viewer(request: Request, address: { address: string; port: number } | null, name: StreamName, carried: string): HlsViewer | null {
    const ip = address?.address ?? "";
    const sessionKey = `${name.key}\n${ip}\n${request.headers.get("user-agent") ?? ""}\n${carried}`;
    const existing = this.viewers.get(sessionKey);
    if (existing !== undefined && existing.open) return existing;
    const { connections, log } = this.context;
    const id = connections.reserve();
    const remote = address === null ? "" : hostPort(address.address, address.port);
    if (id === null) {
      log.warn("connection refused: max_connections reached", { remote_addr: remote, max: this.settings.maxConnections, protocol: "hls" });
      return null;
    }
    const viewer = new HlsViewer(id, remote, name, sessionKey, this.viewerContext, this.idleMs);
    this.viewers.set(sessionKey, viewer);
    return viewer;
  }

  /** Allowed a moment ago: not asked again yet. */
  private recentlyAllowed(viewer: HlsViewer): boolean {
    return performance.now() - (this.allowedAt.get(viewer) ?? -Infinity) < AUTH_RECHECK_MS;
  }

  /** Null when allowed, else the 401/403 reply (the refusal counted, logged and announced). */
  private async authorize(viewer: HlsViewer, url: URL, clientIp: string): Promise<Response | null> {
    const now = performance.now();
    const { name } = viewer;
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!k.startsWith("_HLS_")) query[k] = v;
    const decision = await viewer.authorize(this.context.access, { action: "play", app: name.app, name: name.name, streamKey: name.key, query, clientIp });
    if (decision.allowed) {
      this.allowedAt.set(viewer, now);
      return null;
    }
    const credentials = url.searchParams.has("token") || url.searchParams.has("sign");
    return credentials ? textResponse(403, "forbidden", CORS) : textResponse(401, "unauthorized", CORS);
  }

  /** The stream's muxer once it is published (within timeouts.handshake); null if it is not by then. */
  private async started(key: string, signal: AbortSignal): Promise<HlsMuxer | null | "busy"> {
    const { muxers } = this.context;
    const now = muxers.start(key);
    if (now !== null) return now;
    if (this.publishWaits >= MAX_PUBLISH_WAITS) return "busy";
    this.publishWaits++;
    const left = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    const published = await this.waiters.wait(key, this.settings.handshakeMs, left);
    this.publishWaits--;
    return published ? muxers.start(key) : null;
  }

  private play(viewer: HlsViewer): void {
    if (viewer.playing) return;
    viewer.play();
    const key = viewer.name.key;
    const set = this.playing.get(key) ?? new Set();
    this.playing.set(key, set);
    set.add(viewer);
  }

  /** A viewer is over; the last of a stream's stops its muxer. */
  private ended(viewer: HlsViewer): void {
    if (this.viewers.get(viewer.sessionKey) === viewer) this.viewers.delete(viewer.sessionKey);
    const key = viewer.name.key;
    const set = this.playing.get(key);
    if (set === undefined || !set.delete(viewer) || set.size > 0) return;
    this.playing.delete(key);
    this.context.muxers.stop(key, "no viewer left");
  }

  private respond(reply: HlsReply, viewer: HlsViewer): Response {
    if ("playlist" in reply) {
      viewer.served(reply.playlist.length);
      return new Response(reply.playlist, { headers: PLAYLIST_HEADERS });
    }
    if ("body" in reply) {
      viewer.served(reply.body.size);
      return new Response(reply.body, { headers: FILE_HEADERS.get(reply.contentType) });
    }
    const retry: Record<string, string> = reply.status === 503 ? { "retry-after": "1" } : {};
    return textResponse(reply.status, reply.message, { ...CORS, ...retry });
  }
}

/** The playlist URL's query without its _HLS_ directives: what a viewer's URLs carry ("" or "a=b&..."). */
function carriedQuery(url: URL): string {
  const search = url.search;
  if (search === "") return "";
  return search
    .slice(1)
    .split("&")
    .filter((p) => p !== "" && !p.startsWith("_HLS_"))
    .join("&");
}
