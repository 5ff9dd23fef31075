/**
 * The listening server: Bun.listen handlers that hand bytes to one Session per connection, the connection
 * limit, one sweep timer for every deadline (handshake, idle, stuck writes), and graceful shutdown.
 */
import type { Socket } from "bun";
import type { Config } from "./config/config.ts";
import { EventChannel } from "./events/events.ts";
import type { Logger } from "./logger.ts";
import { trimIdleSlabs } from "./media/frame.ts";
import { Session } from "./session/session.ts";
import { StreamRegistry } from "./streams/registry.ts";

export interface RtmpServer {
  readonly port: number;
  readonly events: EventChannel;
  readonly registry: StreamRegistry;
  readonly sessions: ReadonlySet<Session>;
  /** Stop accepting, end publishers, let players take what is queued (bounded by timeouts.shutdown), close. */
  stop(): Promise<void>;
}

interface SocketData {
  session: Session | null;
}

/** How often the sweep runs: often enough for the shortest deadline, never busier than 20 Hz. */
function sweepInterval(config: Config): number {
  const t = config.timeouts;
  return Math.min(1000, Math.max(50, Math.min(t.handshakeMs, t.readMs, t.writeMs) / 4));
}

export async function startServer(config: Config, log: Logger): Promise<RtmpServer> {
  const events = new EventChannel(log);
  if (log.enabled("debug")) events.subscribe((e) => log.debug("event", { ...e }));
  const registry = new StreamRegistry(
    {
      chunkSize: config.chunkSize,
      gopCache: config.streams.gopCache,
      gopCacheMaxBytes: config.streams.gopCacheMaxBytes,
      maxSubscriberLagMs: config.streams.maxSubscriberLagMs,
      publishConflict: config.streams.publishConflict,
      publisherIdleMs: config.timeouts.publisherIdleMs,
    },
    { log, events, outputs: () => [] },
  );
  const settings = {
    protocol: "rtmp",
    chunkSize: config.chunkSize,
    maxMessageSize: config.maxMessageSize,
    handshakeMs: config.timeouts.handshakeMs,
    readMs: config.timeouts.readMs,
    writeMs: config.timeouts.writeMs,
  };
  const sessions = new Set<Session>();
  let nextId = 1;
  const onClosed = (s: Session) => sessions.delete(s);

  const listener = Bun.listen<SocketData>({
    hostname: config.listen.host,
    port: config.listen.port,
    socket: {
      binaryType: "uint8array",
      open(socket: Socket<SocketData>) {
        // socket.data starts out shared between sockets: every socket gets its own object.
        socket.data = { session: null };
        if (sessions.size >= config.maxConnections) {
          log.warn("connection refused: max_connections reached", { remote_addr: socket.remoteAddress, max: config.maxConnections });
          socket.end();
          return;
        }
        const id = `c${String(nextId++).padStart(6, "0")}`;
        const session = new Session(id, `${socket.remoteAddress}:${socket.remotePort}`, socket, registry, settings, log, events, onClosed);
        sessions.add(session);
        socket.data.session = session;
        session.log.debug("connection accepted", { remote_addr: session.remoteAddress });
        events.emit("connection_accept", { connId: id }, { remote_addr: session.remoteAddress, protocol: "rtmp" });
      },
      data(socket, bytes) {
        socket.data.session?.onData(bytes);
      },
      drain(socket) {
        socket.data.session?.onDrain(performance.now());
      },
      close(socket) {
        socket.data.session?.onSocketClosed();
      },
      error(socket, error) {
        log.error("socket error", { conn_id: socket.data.session?.id, error });
        socket.data.session?.close("socket error");
      },
    },
  });
  const port = listener.port;
  log.info("listening", { address: `${config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host}:${port}` });

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const s of sessions) s.tick(now);
    trimIdleSlabs(now);
  }, sweepInterval(config));

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      listener.stop(false);
      clearInterval(sweep);
      // Publishers first, so that their players are told the stream ended before they are closed.
      for (const stream of registry.streams.values()) stream.publisher?.close("server shutting down");
      const deadline = performance.now() + config.timeouts.shutdownMs;
      while (performance.now() < deadline && [...sessions].some((s) => !s.outbox.empty)) await Bun.sleep(20);
      for (const s of [...sessions]) s.close("server shutting down");
      listener.stop(true);
      log.info("server stopped");
    })();
    return stopping;
  };

  return { port, events, registry, sessions, stop };
}
