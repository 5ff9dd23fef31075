/**
 * The HTTP listener (http.listen): HTTP-FLV and WS-FLV players, the JSON API, /metrics, /healthz and the
 * dashboard on one Bun.serve. Paths are matched, never turned into file names; nothing here writes files or
 * runs commands. Requests are bounded by Bun (request line and headers 16 KiB, 431 past it) and by
 * MAX_REQUEST_BODY (413 past it: no path takes a body); one whose Host is no valid host gets 400.
 */
import type { Server } from "bun";
import type { EventChannel } from "../events/events.ts";
import type { HookRunner } from "../hooks/hook-runner.ts";
import type { Logger } from "../logger.ts";
import type { Recorder } from "../record/recorder.ts";
import type { Relay } from "../relay/relay.ts";
import type { AccessCheck } from "../shared/access.ts";
import type { ConnectionTable } from "../shared/connections.ts";
import { hostPort } from "../shared/host-port.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import { Api, type ClusterSources } from "./api.ts";
import { dashboardResponse } from "./dashboard.ts";
import { FlvEndpoint, type FlvSocketData } from "../flv/flv-endpoint.ts";
import { HlsEndpoint, isHlsPath } from "../hls/hls-endpoint.ts";
import type { HlsMuxers } from "../hls/muxers.ts";
import { renderMetrics } from "./metrics.ts";
import { WholeServer } from "./whole-server.ts";
import type { WorkerChannel } from "../cluster/worker-channel.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus-text.ts";
import { isWatchPath, watchResponse } from "./watch-page.ts";
import { methodNotAllowed, textResponse } from "../shared/http-responses.ts";

/** Largest request body accepted; no path takes one. */
const MAX_REQUEST_BODY = 4096;
/** Largest message a WS-FLV client may send (players send nothing; this only bounds what a bad one can). */
const MAX_WEBSOCKET_MESSAGE = 4096;
/**
 * Bun's own queue per WebSocket: above one coalesced write (256 KiB), which is the most a WS-FLV player
 * ever leaves there, so it is never reached.
 */
const WEBSOCKET_BACKPRESSURE_LIMIT = 1024 * 1024;

/** What the HTTP listener is configured with (http.*, and the timeouts and limits its players share). */
export interface HttpSettings {
  listen: { host: string; port: number };
  apiToken: string;
  /** Serve live streams as /{app}/{name}.flv. */
  flv: boolean;
  handshakeMs: number;
  writeMs: number;
  readMs: number;
  maxConnections: number;
  /** A worker of several shares the port with the others (SO_REUSEPORT). */
  reusePort: boolean;
}

export interface HttpContext {
  settings: HttpSettings;
  log: Logger;
  registry: StreamRegistry;
  connections: ConnectionTable;
  access: AccessCheck;
  events: EventChannel;
  stats: ServerStats;
  hooks: Pick<HookRunner, "stats">;
  recorder: Pick<Recorder, "recording" | "stats">;
  relay: Pick<Relay, "status" | "totals">;
  /** HLS (hls.enabled), or null. */
  hls: HlsMuxers | null;
  /** The cluster (cluster.redis or cluster.origins), for /api/cluster and /metrics; or null. */
  cluster: ClusterSources | null;
  /** One of several workers: its channel to the others, through which the API and /metrics describe them all. */
  worker: WorkerChannel | null;
}

export interface HttpServer {
  readonly port: number;
  /**
   * Stop accepting, refuse waiting players, let playing ones take what is queued until `deadlineMs` (a
   * performance.now() time), then close every connection.
   */
  stop(deadlineMs: number): Promise<void>;
}

export function startHttp(context: HttpContext): HttpServer {
  const { settings, log } = context;
  const address = settings.listen;
  const startedAt = Date.now();
  const flv = new FlvEndpoint(context, settings);
  const hls = context.hls === null ? null : new HlsEndpoint({ ...context, muxers: context.hls }, settings);
  const views = { ...context, hlsViewers: hls };
  const metrics = () => renderMetrics({ ...views, maxConnections: settings.maxConnections, startedAt });
  const whole = context.worker === null ? null : new WholeServer(context.worker, { ...views, metrics });
  const api = new Api(views, settings.apiToken, whole);
  let stopping: Promise<void> | null = null;

  const route = (request: Request, server: Server<FlvSocketData>): Response | Promise<Response | undefined> => {
    // Bun builds request.url from the Host header, and leaves a bad one (`a b`, `x:99999`, `[::1`) unparsable.
    const url = URL.parse(request.url);
    if (url === null) {
      log.debug("bad request: no valid host", { remote_addr: remoteAddress(server, request) });
      return textResponse(400, "bad request");
    }
    const path = url.pathname;
    const read = request.method === "GET" || request.method === "HEAD";
    if (path.startsWith("/api/")) return api.handle(request, path);
    if (path === "/healthz") {
      if (!read) return methodNotAllowed("GET, HEAD");
      return stopping === null ? textResponse(200, "ok") : textResponse(503, "stopping");
    }
    if (path === "/metrics") {
      if (!read) return methodNotAllowed("GET, HEAD");
      return whole === null ? metricsResponse(metrics()) : whole.metrics().then(metricsResponse);
    }
    if (path === "/") return read ? dashboardResponse() : methodNotAllowed("GET, HEAD");
    if (hls !== null && isHlsPath(path)) {
      // A stream's HLS is muxed by one worker, whichever worker its player's requests land on.
      const home = whole === null || server === own ? null : whole.hlsHome(path);
      if (whole !== null && home !== null) return whole.forward(request, url, home);
      return hls.handle(request, url, server);
    }
    if (context.hls !== null && isWatchPath(path)) return watchResponse(request, path, context.hls);
    if (settings.flv && path.endsWith(".flv")) {
      return request.method === "GET" ? flv.handle(request, url, server) : methodNotAllowed("GET");
    }
    return textResponse(404, "not found");
  };

  const serve = (hostname: string, port: number, reusePort: boolean) =>
    Bun.serve<FlvSocketData>({
      hostname,
      port,
      reusePort,
      development: false,
      maxRequestBodySize: MAX_REQUEST_BODY,
      fetch: route,
      error(error) {
        log.error("http request failed", { error: error.stack ?? error.message });
        return textResponse(500, "internal error");
      },
      websocket: {
        ...flv.websocket,
        // The players' own deadlines (write timeout, idle) apply, as for RTMP.
        idleTimeout: 0,
        sendPings: false,
        perMessageDeflate: false,
        maxPayloadLength: MAX_WEBSOCKET_MESSAGE,
        backpressureLimit: WEBSOCKET_BACKPRESSURE_LIMIT,
      },
    });
  const server = serve(address.host, address.port, settings.reusePort);
  // One of several workers also listens on a loopback port of its own, where its siblings pass on the HLS
  // requests of the streams it muxes.
  const own = context.worker === null ? null : serve("127.0.0.1", 0, false);
  if (context.worker !== null && own !== null) context.worker.httpPort = own.port ?? null;

  const stop = (deadlineMs: number): Promise<void> => {
    stopping ??= (async () => {
      void server.stop(false);
      void own?.stop(false);
      flv.stop();
      hls?.stop();
      while (flv.players.size > 0 && performance.now() < deadlineMs) await Bun.sleep(20);
      for (const player of [...flv.players]) player.abort("server shutting down");
      await Promise.all([server.stop(true), own?.stop(true)]);
    })();
    return stopping;
  };

  return { port: server.port ?? address.port, stop };
}

function metricsResponse(text: string): Response {
  return new Response(text, { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } });
}

function remoteAddress(server: Server<FlvSocketData>, request: Request): string {
  const address = server.requestIP(request);
  return address === null ? "" : hostPort(address.address, address.port);
}
