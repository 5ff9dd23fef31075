/**
 * GET /{app}/{name}.flv, as HTTP-FLV or (with an Upgrade) WS-FLV: counted in max_connections (503 when
 * full), the play access check on the URL's query (401 without credentials, 403 with wrong ones), then the
 * stream, waited for up to timeouts.handshake (404 if nothing is published by then), then an FlvPlayer.
 */
import type { Server, ServerWebSocket } from "bun";
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { flvFileHeader } from "../media/flv.ts";
import type { AccessCheck } from "../shared/access.ts";
import type { ConnectionTable } from "../shared/connections.ts";
import { hostPort } from "../shared/host-port.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import { parseStreamName, type StreamName } from "../shared/stream-name.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import type { Stream } from "../streams/stream.ts";
import { FlvPlayer, type PlayerContext, type PlayerSettings } from "./flv-player.ts";
import { PublishWaiters } from "../streams/publish-waiters.ts";
import { ResponseSink } from "./response-sink.ts";
import { textResponse } from "../shared/http-responses.ts";
import { WebSocketSink } from "./websocket-sink.ts";

export interface FlvEndpointContext {
  registry: StreamRegistry;
  connections: ConnectionTable;
  access: AccessCheck;
  events: EventChannel;
  stats: ServerStats;
  log: Logger;
}

export interface FlvEndpointSettings extends PlayerSettings {
  /** timeouts.handshake: how long a request for a stream not published yet waits before its 404. */
  handshakeMs: number;
  /** For the log line of a refusal. */
  maxConnections: number;
}

/** What a WS-FLV socket carries from its upgrade to its handlers. */
export interface FlvSocketData {
  player: FlvPlayer;
  sink: WebSocketSink;
}

const FLV_HEADERS = {
  "content-type": "video/x-flv",
  "cache-control": "no-store",
  // Browser players (flv.js, mpegts.js) on another origin read the stream with fetch.
  "access-control-allow-origin": "*",
};

/** The stream key of a `/{app}/{name}.flv` path, or null if it names none (bad encoding, empty, a `?`). */
export function flvStreamName(path: string): StreamName | null {
  if (!path.endsWith(".flv")) return null;
  let decoded: string;
  try {
    decoded = path.slice(0, -4).split("/").map(decodeURIComponent).join("/");
  } catch {
    return null;
  }
  // A query belongs in the URL's query, never in the key.
  if (decoded.includes("?")) return null;
  return parseStreamName("", decoded);
}

export class FlvEndpoint {
  readonly players = new Set<FlvPlayer>();
  private readonly waiters: PublishWaiters;
  private readonly playerContext: PlayerContext;
  private stopping = false;

  constructor(
    private readonly context: FlvEndpointContext,
    private readonly settings: FlvEndpointSettings,
  ) {
    this.waiters = new PublishWaiters(context.events, context.registry);
    const { registry, events, stats, log, connections } = context;
    this.playerContext = {
      hub: registry,
      events,
      stats,
      log,
      connections,
      onClosed: (player) => this.players.delete(player),
    };
  }

  async handle(request: Request, url: URL, server: Server<FlvSocketData>): Promise<Response | undefined> {
    const name = flvStreamName(url.pathname);
    if (name === null) return textResponse(404, "not found");
    const { connections, log } = this.context;
    const id = this.stopping ? null : connections.reserve();
    // Null once the peer has gone (it may reset while the request is read).
    const address = server.requestIP(request);
    const remote = address === null ? "" : hostPort(address.address, address.port);
    if (id === null) {
      if (!this.stopping) log.warn("connection refused: max_connections reached", { remote_addr: remote, max: this.settings.maxConnections });
      return textResponse(503, this.stopping ? "server shutting down" : "server full", { "retry-after": "5" });
    }
    // The player's own deadlines apply from now on: Bun's idle timer would cut one waiting for its stream.
    server.timeout(request, 0);
    const websocket = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    const protocol = websocket ? "ws-flv" : "http-flv";
    const sink = websocket ? new WebSocketSink() : new ResponseSink(request, server);
    const player = new FlvPlayer(id, protocol, remote, name, sink, this.playerContext, this.settings);
    this.players.add(player);
    try {
      return await this.serve(player, sink, request, url, server);
    } catch (e) {
      // Whatever failed (Bun's error handler answers 500), the connection must not stay in the table.
      player.abort("internal error");
      throw e;
    }
  }

  /** Access check, the stream (waited for), then the FLV response or the WebSocket upgrade. */
  private async serve(
    player: FlvPlayer,
    sink: WebSocketSink | ResponseSink,
    request: Request,
    url: URL,
    server: Server<FlvSocketData>,
  ): Promise<Response | undefined> {
    // Until the upgrade, a WebSocket client that leaves is seen only here (an HTTP one by its sink).
    const left = () => player.gone();
    if (sink instanceof WebSocketSink) request.signal.addEventListener("abort", left, { once: true });
    const refused = await this.authorize(player, url, server.requestIP(request)?.address ?? "");
    // The client left, or the connection was closed (API, shutdown) while it waited.
    if (!player.pending) return textResponse(503, "connection closed");
    if (refused !== null) {
      player.close("play not authorized");
      return refused;
    }
    if (!(await this.published(player))) {
      if (!player.pending) return textResponse(503, "connection closed");
      player.close(`stream not found within ${this.settings.handshakeMs} ms`);
      return textResponse(404, "stream not found");
    }
    if (sink instanceof ResponseSink) {
      player.start(this.fileHeader(player.name.key));
      return sink.response(FLV_HEADERS);
    }
    request.signal.removeEventListener("abort", left);
    if (server.upgrade(request, { data: { player, sink } })) return undefined;
    player.close("bad websocket upgrade");
    return textResponse(400, "bad websocket upgrade");
  }

  /** Bun's WebSocket handlers for the FLV sockets. */
  readonly websocket = {
    open: (ws: ServerWebSocket<FlvSocketData>) => {
      const { player, sink } = ws.data;
      sink.attach(ws);
      if (this.stream(player.name.key) === null) player.close("stream ended");
      else player.start(this.fileHeader(player.name.key));
    },
    message: (ws: ServerWebSocket<FlvSocketData>, message: string | Uint8Array) => ws.data.player.received(message.length),
    drain: (ws: ServerWebSocket<FlvSocketData>) => ws.data.sink.drained(),
    close: (ws: ServerWebSocket<FlvSocketData>) => ws.data.sink.closed(),
  };

  /** Shutdown: no new players, waiting ones are refused, playing ones flush what is queued and end. */
  stop(): void {
    this.stopping = true;
    this.waiters.close();
    for (const player of [...this.players]) player.close("server shutting down");
  }

  /** Null when allowed, else the 401/403 response (the player's lifecycle counted, logged and announced it). */
  private async authorize(player: FlvPlayer, url: URL, clientIp: string): Promise<Response | null> {
    const { name } = player;
    const query = Object.fromEntries(url.searchParams);
    const decision = await player.authorize(this.context.access, { action: "play", app: name.app, name: name.name, streamKey: name.key, query, clientIp });
    if (decision.allowed) return null;
    const credentials = url.searchParams.has("token") || url.searchParams.has("sign");
    return credentials ? textResponse(403, "forbidden") : textResponse(401, "unauthorized");
  }

  /** Whether the player's stream is published now, or becomes so within timeouts.handshake. */
  private async published(player: FlvPlayer): Promise<boolean> {
    if (this.stream(player.name.key) !== null) return true;
    return (await this.waiters.wait(player.name.key, this.settings.handshakeMs, player.ended)) && player.pending;
  }

  /** The stream, if it has a publisher. */
  private stream(key: string): Stream | null {
    const stream = this.context.registry.streams.get(key);
    return stream !== undefined && stream.publisher !== null ? stream : null;
  }

  /** The FLV header's audio and video flags from what the stream carries; both while that is unknown. */
  private fileHeader(key: string): Uint8Array {
    const stream = this.stream(key);
    const stats = stream?.stats(performance.now()) ?? null;
    if (stream === null || stats === null) return flvFileHeader(true, true);
    const audio = stream.audioHeader !== null || stats.audio_packets > 0;
    const video = stream.videoHeader !== null || stats.video_packets > 0;
    return audio || video ? flvFileHeader(audio, video) : flvFileHeader(true, true);
  }
}
