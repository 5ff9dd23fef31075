/**
 * The server, put together: the event channel and hooks, access checks, recorder and relays, the stream
 * registry, the connection table, the RTMP and RTMPS listeners, one sweep timer for every deadline
 * (handshake, idle, stuck writes) and the stats log, SIGHUP reloads, and graceful shutdown.
 */
import type { Socket, TCPSocketListener } from "bun";
import { createAuthorizer } from "./auth/create-authorizer.ts";
import type { Config, ListenAddress } from "./config/config.ts";
import { keyMatchesCertificate, readCertificateChain, readPrivateKey } from "./config/tls-files.ts";
import { EventChannel } from "./events/events.ts";
import { HookRunner } from "./hooks/hook-runner.ts";
import { startHttp } from "./http/http-server.ts";
import type { Logger } from "./logger.ts";
import { trimIdleSlabs } from "./media/frame.ts";
import { Recorder } from "./record/recorder.ts";
import { Relay } from "./relay/relay.ts";
import { ConnectionTable } from "./shared/connections.ts";
import { ServerStats } from "./shared/server-stats.ts";
import { Session, type SessionContext, type SessionSettings } from "./rtmp/session.ts";
import type { PublishedStream, StreamOutput } from "./streams/output.ts";
import { StreamRegistry } from "./streams/registry.ts";

export interface RtmpServer {
  readonly port: number;
  /** The RTMPS port, or null when tls.listen is off. */
  readonly tlsPort: number | null;
  /** The HTTP port (API, metrics, dashboard, HTTP-FLV/WS-FLV), or null when http.listen is off. */
  readonly httpPort: number | null;
  readonly events: EventChannel;
  readonly registry: StreamRegistry;
  readonly connections: ConnectionTable;
  readonly hooks: HookRunner;
  readonly stats: ServerStats;
  readonly recorder: Recorder;
  readonly relay: Relay;
  /** SIGHUP: re-read the auth token file and the TLS certificate. */
  reload(): void;
  /** Stop accepting, end publishers, let players take what is queued (bounded by timeouts.shutdown), close. */
  stop(): Promise<void>;
}

interface SocketData {
  session: Session | null;
}

type ListenerHandlers = Parameters<typeof Bun.listen<SocketData>>[0]["socket"];

/** How often the sweep runs: often enough for the shortest deadline, never busier than 20 Hz. */
function sweepInterval(config: Config): number {
  const t = config.timeouts;
  return Math.min(1000, Math.max(50, Math.min(t.handshakeMs, t.readMs, t.writeMs) / 4));
}

function formatAddress(address: ListenAddress, port: number): string {
  return `${address.host.includes(":") ? `[${address.host}]` : address.host}:${port}`;
}

/** Bind, or throw an error that names the address and what it was for (the CLI prints it and exits 1). */
function listenOrExplain<T>(address: ListenAddress, what: string, bind: () => T): T {
  try {
    return bind();
  } catch (e) {
    throw new Error(`cannot listen on ${formatAddress(address, address.port)} (${what}): ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** What the process hands the server besides its config: the environment hook scripts inherit. */
export interface ServerEnvironment {
  /** PATH and HOME, as the contract gives them to hook scripts. */
  hookEnvironment?: Readonly<Record<string, string>>;
}

export async function startServer(config: Config, log: Logger, environment: ServerEnvironment = {}): Promise<RtmpServer> {
  const events = new EventChannel(log);
  const stats = new ServerStats();
  if (log.enabled("debug")) events.subscribe((e) => log.debug("event", { ...e }));
  const hooks = new HookRunner({ ...config.hooks, inherited: environment.hookEnvironment }, log);
  hooks.attach(events);
  const authorizer = createAuthorizer(config.auth, log);
  const recorder = new Recorder(config.recording, log, events);
  const relay = new Relay(
    {
      destinations: config.relay.destinations,
      chunkSize: config.chunkSize,
      maxLagMs: config.streams.maxSubscriberLagMs,
      writeTimeoutMs: config.timeouts.writeMs,
      replyTimeoutMs: config.timeouts.handshakeMs,
    },
    log,
    events,
  );
  const outputs = (stream: PublishedStream): StreamOutput[] => {
    const list = relay.outputs(stream);
    const recording = recorder.output(stream);
    if (recording !== null) list.push(recording);
    return list;
  };
  const registry = new StreamRegistry(
    {
      chunkSize: config.chunkSize,
      gopCache: config.streams.gopCache,
      gopCacheMaxBytes: config.streams.gopCacheMaxBytes,
      maxSubscriberLagMs: config.streams.maxSubscriberLagMs,
      publishConflict: config.streams.publishConflict,
      publisherIdleMs: config.timeouts.publisherIdleMs,
    },
    { log, events, outputs, stats },
  );
  const connections = new ConnectionTable(config.maxConnections);
  const sessions = new Set<Session>();
  const context: SessionContext = {
    hub: registry,
    access: authorizer,
    events,
    log,
    stats,
    onClosed: (session) => {
      sessions.delete(session);
      connections.delete(session);
    },
  };

  /** Socket handlers for one listener: RTMP, or RTMPS on the TLS listener. */
  const rtmpHandlers = (protocol: string): ListenerHandlers => {
    const settings: SessionSettings = {
      protocol,
      chunkSize: config.chunkSize,
      maxMessageSize: config.maxMessageSize,
      handshakeMs: config.timeouts.handshakeMs,
      readMs: config.timeouts.readMs,
      writeMs: config.timeouts.writeMs,
    };
    return {
      binaryType: "uint8array" as const,
      open(socket: Socket<SocketData>) {
        // socket.data starts out shared between sockets: every socket gets its own object.
        socket.data = { session: null };
        const id = connections.reserve();
        if (id === null) {
          log.warn("connection refused: max_connections reached", { remote_addr: socket.remoteAddress, max: config.maxConnections });
          socket.end();
          return;
        }
        const remote = { ip: socket.remoteAddress, port: socket.remotePort };
        const session = new Session(id, remote, socket, context, settings);
        sessions.add(session);
        connections.add(session);
        socket.data.session = session;
        session.log.debug("connection accepted", { remote_addr: session.remoteAddress, protocol });
        events.emit("connection_accept", { connId: id }, { remote_addr: session.remoteAddress, protocol });
      },
      data(socket: Socket<SocketData>, bytes: Uint8Array) {
        socket.data.session?.onData(bytes);
      },
      drain(socket: Socket<SocketData>) {
        socket.data.session?.onDrain(performance.now());
      },
      close(socket: Socket<SocketData>) {
        socket.data.session?.onSocketClosed();
      },
      error(socket: Socket<SocketData>, error: Error) {
        // On the TLS listener a failed handshake errors before open() gave the socket its data.
        log.error("socket error", { conn_id: socket.data?.session?.id, error: error.message });
        socket.data?.session?.close("socket error");
      },
    };
  };

  const listener = listenOrExplain(config.listen, "rtmp", () =>
    Bun.listen<SocketData>({ hostname: config.listen.host, port: config.listen.port, socket: rtmpHandlers("rtmp") }),
  );
  log.info("listening", { address: formatAddress(config.listen, listener.port), protocol: "rtmp" });
  const httpAddress = config.http.listen;
  const http =
    httpAddress === null
      ? null
      : listenOrExplain(httpAddress, "http", () =>
          startHttp({
            settings: {
              listen: httpAddress,
              apiToken: config.http.apiToken,
              flv: config.http.flv,
              handshakeMs: config.timeouts.handshakeMs,
              writeMs: config.timeouts.writeMs,
              readMs: config.timeouts.readMs,
              maxConnections: config.maxConnections,
            },
            log,
            registry,
            connections,
            access: authorizer,
            events,
            stats,
            hooks,
            recorder,
            relay,
          }),
        );
  if (http !== null && httpAddress !== null) log.info("listening", { address: formatAddress(httpAddress, http.port), protocol: "http" });
  const tlsAddress = config.tls.listen;
  const tls = tlsAddress === null ? null : listenOrExplain(tlsAddress, "rtmps", () => new TlsListener(tlsAddress, config.tls, rtmpHandlers("rtmps"), log));

  const collector = new Collector(stats);
  let lagSampledAt = 0;
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const s of sessions) s.tick(now);
    http?.tick(now);
    trimIdleSlabs(now);
    if (now - lagSampledAt >= 1000) {
      lagSampledAt = now;
      for (const stream of registry.streams.values()) stream.sampleLag(now);
    }
  }, sweepInterval(config));
  const statsTimer =
    config.log.statsIntervalMs > 0
      ? setInterval(() => {
          const now = performance.now();
          for (const stream of registry.streams.values()) stream.logStats(now);
        }, config.log.statsIntervalMs)
      : undefined;

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      listener.stop(false);
      tls?.stop(false);
      clearInterval(sweep);
      clearInterval(statsTimer);
      collector.stop();
      const deadline = performance.now() + config.timeouts.shutdownMs;
      // Relays before publishers, so that destinations hear why they end (a publisher leaving would end them too).
      const relayDone = relay.stop(deadline);
      // Publishers first, so that their players are told the stream ended (and recordings end).
      for (const stream of registry.streams.values()) stream.publisher?.close("server shutting down");
      const outputsDone = Promise.all([recorder.stop(deadline), relayDone, http?.stop(deadline)]);
      while (performance.now() < deadline && [...sessions].some((s) => !s.outbox.empty)) await Bun.sleep(20);
      await outputsDone;
      for (const connection of [...connections.values()]) connection.close("server shutting down");
      listener.stop(true);
      tls?.stop(true);
      authorizer.close();
      // Events of the shutdown itself (publish_stop, connection_close...) are delivered within the same budget.
      await hooks.stop(deadline);
      log.info("server stopped");
    })();
    return stopping;
  };

  const reload = () => {
    authorizer.reload();
    tls?.reload();
  };

  return {
    port: listener.port,
    tlsPort: tls?.port ?? null,
    httpPort: http?.port ?? null,
    events,
    registry,
    connections,
    hooks,
    stats,
    recorder,
    relay,
    reload,
    stop,
  };
}

/**
 * Bun hands every socket read over in a buffer of its own, and those buffers are freed only when the
 * garbage collector runs. Left to its own pace it lets megabytes of them pile up and frees them in bulk, and
 * the allocator hands the memory back to the kernel before it is used again: a page fault per 4 KiB on the
 * next reads and an madvise, with a TLB flush, per release. With 50 real-time publishers that was a quarter of
 * the server's CPU. A young-generation collection every 30 ms while data flows frees the buffers while their
 * memory is still in use: with 50 publishers page faults fell from about 3,800/s to under 1,000/s, CPU per GB
 * by 7-14% and peak RSS from 135 to 115 MiB (bench: --shape publishers). It costs nothing while no data comes in.
 *
 * Now and then the collection is a full one. Frames live about a GOP, long enough to leave the young
 * generation, and JSC collects the old one only once the heap has grown well past what is live: a full
 * collection every 2 s took peak RSS at 50 publishers from 101-102 to 95 MiB, for 3-7% more CPU per GB.
 */
class Collector {
  private readonly timer: ReturnType<typeof setInterval>;
  private collectedAt = 0;
  private fullAt = performance.now();

  constructor(stats: ServerStats) {
    this.timer = setInterval(() => {
      if (stats.bytesIn - this.collectedAt < COLLECT_AFTER_BYTES) return;
      this.collectedAt = stats.bytesIn;
      const now = performance.now();
      const full = now - this.fullAt >= FULL_COLLECT_EVERY_MS;
      if (full) this.fullAt = now;
      Bun.gc(full);
    }, COLLECT_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

const COLLECT_EVERY_MS = 30;
const FULL_COLLECT_EVERY_MS = 2_000;
/** Less than this read since the last collection: too little garbage to be worth one. */
const COLLECT_AFTER_BYTES = 64 * 1024;

/**
 * The RTMPS listener. Certificates are re-read on reload() without a restart: a new listener with the new
 * certificate binds the same port (SO_REUSEPORT) before the old one stops accepting, so no connection is
 * refused in between and established connections keep their TLS session.
 */
class TlsListener {
  private listener: TCPSocketListener<SocketData>;

  constructor(
    private readonly address: ListenAddress,
    private readonly files: { cert: string; key: string },
    private readonly handlers: ListenerHandlers,
    private readonly log: Logger,
  ) {
    // SO_REUSEPORT would let a second server share the port silently: make sure it is free first.
    Bun.listen({ hostname: address.host, port: address.port, socket: { data() {} } }).stop(true);
    this.listener = this.bind();
    log.info("listening", { address: formatAddress(address, this.listener.port), protocol: "rtmps" });
  }

  get port(): number {
    return this.listener.port;
  }

  reload(): void {
    let next: TCPSocketListener<SocketData>;
    try {
      next = this.bind(this.listener.port);
    } catch (e) {
      // A renewal half-written, or a key that does not match: keep serving with what works.
      this.log.error("TLS certificate reload failed: keeping the current one", { error: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.listener.stop(false);
    this.listener = next;
    this.log.info("TLS certificate reloaded", { cert: this.files.cert });
  }

  stop(closeActive: boolean): void {
    this.listener.stop(closeActive);
  }

  private bind(port = this.address.port): TCPSocketListener<SocketData> {
    const cert = readCertificateChain(this.files.cert);
    const key = readPrivateKey(this.files.key);
    if (!keyMatchesCertificate(cert, key)) throw new Error(`${this.files.key} is not the key of ${this.files.cert}`);
    return Bun.listen<SocketData>({
      hostname: this.address.host,
      port,
      // Typed only for connect, but honoured by listen (bun-notes §1.1).
      ...({ reusePort: true } as object),
      tls: { cert, key },
      socket: this.handlers,
    });
  }
}
