/**
 * The server, put together in named steps: the core every layer reports to (events, hooks, stats, access
 * checks), the streams and what they feed (registry, recorder, relays), the RTMP and RTMPS listeners, the
 * operator surface on HTTP (API, metrics, dashboard, HTTP-FLV), the timers (one sweep for every connection's
 * deadlines, the stats log, the collector), then SIGHUP reloads and the graceful stop.
 */
import type { TCPSocketListener } from "bun";
import type { Authorizer } from "./auth/authorizer.ts";
import { createAuthorizer } from "./auth/create-authorizer.ts";
import type { Config, ListenAddress } from "./config/config.ts";
import { keyMatchesCertificate, readCertificateChain, readPrivateKey } from "./config/tls-files.ts";
import { EventChannel } from "./events/events.ts";
import { HlsMuxers } from "./hls/muxers.ts";
import { HookRunner } from "./hooks/hook-runner.ts";
import { type HttpServer, startHttp } from "./http/http-server.ts";
import type { Logger } from "./logger.ts";
import { trimIdleSlabs } from "./media/frame.ts";
import { Recorder } from "./record/recorder.ts";
import { Relay } from "./relay/relay.ts";
import { type RtmpSocketData, RtmpSessions } from "./rtmp/listener.ts";
import { type TlsCertificate, TlsListener } from "./rtmp/tls-listener.ts";
import { ConnectionTable } from "./shared/connections.ts";
import { hostPort } from "./shared/host-port.ts";
import { ServerStats } from "./shared/server-stats.ts";
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

/** What the process hands the server besides its config: the environment hook scripts inherit. */
export interface ServerEnvironment {
  /** PATH and HOME, as the contract gives them to hook scripts. */
  hookEnvironment?: Readonly<Record<string, string>>;
}

export async function startServer(config: Config, log: Logger, environment: ServerEnvironment = {}): Promise<RtmpServer> {
  const core = startCore(config, log, environment);
  const streams = startStreams(config, core);
  const connections = new ConnectionTable(config.maxConnections);
  const rtmp = listenRtmp(config, core, streams, connections);
  const http = listenHttp(config, core, streams, connections);
  const timers = startTimers(config, core, streams, connections);
  const parts: Parts = { config, core, streams, connections, rtmp, http, timers };
  return {
    port: rtmp.listener.port,
    tlsPort: rtmp.tls?.port ?? null,
    httpPort: http?.port ?? null,
    events: core.events,
    registry: streams.registry,
    connections,
    hooks: core.hooks,
    stats: core.stats,
    recorder: streams.recorder,
    relay: streams.relay,
    reload: () => {
      core.authorizer.reload();
      rtmp.tls?.reload();
    },
    stop: stopOnce(parts),
  };
}

/** What every layer reports to or asks: the event channel and its hooks, the counters, the access checks. */
interface Core {
  log: Logger;
  events: EventChannel;
  stats: ServerStats;
  hooks: HookRunner;
  authorizer: Authorizer;
}

function startCore(config: Config, log: Logger, environment: ServerEnvironment): Core {
  const events = new EventChannel(log);
  if (log.enabled("debug")) events.subscribe((e) => log.debug("event", { ...e }));
  const hooks = new HookRunner({ ...config.hooks, inherited: environment.hookEnvironment }, log);
  hooks.attach(events);
  return { log, events, stats: new ServerStats(), hooks, authorizer: createAuthorizer(config.auth, log) };
}

/** The stream registry, and the outputs every published stream feeds besides its players. */
interface Streams {
  registry: StreamRegistry;
  recorder: Recorder;
  relay: Relay;
  /** HLS muxers (hls.enabled with http.listen), or null. */
  hls: HlsMuxers | null;
}

function startStreams(config: Config, { log, events, stats }: Core): Streams {
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
    const hlsOutput = hls?.output(stream) ?? null;
    if (hlsOutput !== null) list.push(hlsOutput);
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
  if (config.hls.enabled && config.http.listen === null) log.warn("hls.enabled has no effect without http.listen: HLS is served on the HTTP listener");
  const hls = config.hls.enabled && config.http.listen !== null ? new HlsMuxers(config.hls, registry, log) : null;
  return { registry, recorder, relay, hls };
}

/** The RTMP listener, the RTMPS one if tls.listen is set, and the sessions of both. */
interface RtmpListeners {
  sessions: RtmpSessions;
  listener: TCPSocketListener<RtmpSocketData>;
  tls: TlsListener | null;
}

function listenRtmp(config: Config, core: Core, { registry }: Streams, connections: ConnectionTable): RtmpListeners {
  const { log, events, stats, authorizer } = core;
  const { handshakeMs, readMs, writeMs } = config.timeouts;
  const sessions = new RtmpSessions(
    { hub: registry, access: authorizer, events, log, stats, connections },
    { chunkSize: config.chunkSize, maxMessageSize: config.maxMessageSize, handshakeMs, readMs, writeMs },
    config.maxConnections,
  );
  const address = config.listen;
  const listener = listenOrExplain(address, "rtmp", () =>
    Bun.listen<RtmpSocketData>({ hostname: address.host, port: address.port, socket: sessions.handlers("rtmp") }),
  );
  log.info("listening", { address: hostPort(address.host, listener.port), protocol: "rtmp" });
  const tlsAddress = config.tls.listen;
  const files = config.tls;
  const tls =
    tlsAddress === null
      ? null
      : listenOrExplain(tlsAddress, "rtmps", () => new TlsListener(tlsAddress, sessions.handlers("rtmps"), () => tlsCertificate(files), files.cert, log));
  return { sessions, listener, tls };
}

/** The operator surface on http.listen: API, metrics, dashboard, health, and the HTTP-FLV/WS-FLV players. */
function listenHttp(config: Config, core: Core, { registry, recorder, relay, hls }: Streams, connections: ConnectionTable): HttpServer | null {
  const address = config.http.listen;
  if (address === null) return null;
  const { log, events, stats, hooks, authorizer } = core;
  const { handshakeMs, writeMs, readMs } = config.timeouts;
  const http = listenOrExplain(address, "http", () =>
    startHttp({
      settings: { listen: address, apiToken: config.http.apiToken, flv: config.http.flv, handshakeMs, writeMs, readMs, maxConnections: config.maxConnections },
      log,
      registry,
      connections,
      access: authorizer,
      events,
      stats,
      hooks,
      recorder,
      relay,
      hls,
    }),
  );
  log.info("listening", { address: hostPort(address.host, http.port), protocol: "http" });
  return http;
}

/** One sweep for every connection's deadlines (and idle memory, and lag samples), the stats log, the collector. */
interface Timers {
  stop(): void;
}

function startTimers(config: Config, { stats }: Core, { registry }: Streams, connections: ConnectionTable): Timers {
  const collector = new Collector(stats);
  let lagSampledAt = 0;
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of connections.values()) connection.tick(now);
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
  return {
    stop: () => {
      clearInterval(sweep);
      clearInterval(statsTimer);
      collector.stop();
    },
  };
}

/** How often the sweep runs: often enough for the shortest deadline, never busier than 20 Hz. */
function sweepInterval(config: Config): number {
  const t = config.timeouts;
  return Math.min(1000, Math.max(50, Math.min(t.handshakeMs, t.readMs, t.writeMs) / 4));
}

interface Parts {
  config: Config;
  core: Core;
  streams: Streams;
  connections: ConnectionTable;
  rtmp: RtmpListeners;
  http: HttpServer | null;
  timers: Timers;
}

/** The graceful stop, run once however often it is asked for. */
function stopOnce(parts: Parts): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () => (stopping ??= stop(parts));
}

async function stop({ config, core, streams, connections, rtmp, http, timers }: Parts): Promise<void> {
  rtmp.listener.stop(false);
  rtmp.tls?.stop(false);
  timers.stop();
  const deadline = performance.now() + config.timeouts.shutdownMs;
  // Relays before publishers, so that destinations hear why they end (a publisher leaving would end them too).
  const relayDone = streams.relay.stop(deadline);
  // Publishers first, so that their players are told the stream ended (and recordings end).
  for (const stream of streams.registry.streams.values()) stream.publisher?.close("server shutting down");
  const outputsDone = Promise.all([streams.recorder.stop(deadline), relayDone, http?.stop(deadline)]);
  while (performance.now() < deadline && !rtmp.sessions.flushed) await Bun.sleep(20);
  await outputsDone;
  for (const connection of [...connections.values()]) connection.close("server shutting down");
  rtmp.listener.stop(true);
  rtmp.tls?.stop(true);
  core.authorizer.close();
  // Events of the shutdown itself (publish_stop, connection_close...) are delivered within the same budget.
  await core.hooks.stop(deadline);
  core.log.info("server stopped");
}

/** Bind, or throw an error that names the address and what it was for (the CLI prints it and exits 1). */
function listenOrExplain<T>(address: ListenAddress, what: string, bind: () => T): T {
  try {
    return bind();
  } catch (e) {
    throw new Error(`cannot listen on ${hostPort(address.host, address.port)} (${what}): ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The RTMPS certificate chain and key, read and checked again at every (re)load. */
function tlsCertificate(files: { cert: string; key: string }): TlsCertificate {
  const cert = readCertificateChain(files.cert);
  const key = readPrivateKey(files.key);
  if (!keyMatchesCertificate(cert, key)) throw new Error(`${files.key} is not the key of ${files.cert}`);
  return { cert, key };
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
