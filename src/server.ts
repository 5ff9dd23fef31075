/**
 * The server, put together in named steps: the core every layer reports to (events, hooks, stats, access
 * checks), the streams and what they feed (registry, recorder, relays), the RTMP and RTMPS listeners, the
 * operator surface on HTTP (API, metrics, dashboard, HTTP-FLV), the timers (one sweep for every connection's
 * deadlines, the stats log, the collector), then SIGHUP reloads and the graceful stop.
 */
import type { TCPSocketListener } from "bun";
import type { Authorizer } from "./auth/authorizer.ts";
import { createAuthorizer } from "./auth/create-authorizer.ts";
import { advertiseUrl, isWildcardHost, nodeIdentity } from "./cluster/cluster-settings.ts";
import { PublishClaims } from "./cluster/publish-claims.ts";
import { Pulls } from "./cluster/pulls.ts";
import { RedisRegistry } from "./cluster/redis-registry.ts";
import type { ClusterRegistry, Owner } from "./cluster/registry.ts";
import { SupervisorRegistry } from "./cluster/supervisor-registry.ts";
import { workerConnectionPrefix, type WorkerNode, workerNodeId } from "./cluster/worker-node.ts";
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
import { type RtmpSocketData, rtmpHandlers } from "./rtmp/listener.ts";
import { type TlsCertificate, TlsListener } from "./rtmp/tls-listener.ts";
import type { AccessCheck } from "./shared/access.ts";
import { Collector } from "./shared/collector.ts";
import { ConnectionTable } from "./shared/connections.ts";
import { hostPort, urlHost } from "./shared/host-port.ts";
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
  /** This node's cluster registry (cluster.redis), or null. */
  readonly cluster: ClusterRegistry | null;
  /** SIGHUP: re-read the auth token file and the TLS certificate. */
  reload(): void;
  /** Stop accepting, end publishers, let players take what is queued (bounded by timeouts.shutdown), close. */
  stop(): Promise<void>;
}

/** What the process hands the server besides its config: the environment hook scripts inherit. */
export interface ServerEnvironment {
  /** PATH and HOME, as the contract gives them to hook scripts. */
  hookEnvironment?: Readonly<Record<string, string>>;
  /** Set when this process is one of `workers` > 1: the ports it shares, its channel to the supervisor. */
  worker?: WorkerNode;
}

export async function startServer(config: Config, log: Logger, environment: ServerEnvironment = {}): Promise<RtmpServer> {
  const core = startCore(config, log, environment);
  const streams = startStreams(config, core);
  const worker = environment.worker ?? null;
  // A worker's ids name it, so that any worker's API can tell whose connection an id is.
  const connections = new ConnectionTable(config.maxConnections, worker === null ? "" : workerConnectionPrefix(worker.index));
  const claims = config.cluster.redis === "" && worker === null ? null : new PublishClaims(core.authorizer, streams.registry, core.events, config.streams.publishConflict === "replace", log);
  const rtmp = listenRtmp(config, core, claims ?? core.authorizer, streams, connections, worker);
  const cluster = joinCluster(config, core, rtmp, claims, connections, worker);
  const pulls = startPulls(config, core, streams, cluster);
  const http = listenHttp(config, core, streams, connections, worker, cluster, pulls);
  const timers = startTimers(config, core, streams, connections);
  const parts: Parts = { config, core, streams, connections, rtmp, cluster, pulls, http, timers };
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
    cluster: cluster.registry,
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
  return { log, events, stats: new ServerStats(), hooks, authorizer: createAuthorizer(config.auth, log, config.cluster.secret) };
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
    // A stream pulled from another node is recorded and relayed there, not again here.
    const pulled = stream.origin !== null;
    const list = pulled ? [] : relay.outputs(stream);
    const recording = pulled ? null : recorder.output(stream);
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

/** The RTMP listener, and the RTMPS one if tls.listen is set. */
interface RtmpListeners {
  listener: TCPSocketListener<RtmpSocketData>;
  tls: TlsListener | null;
  /** A worker's own RTMP port, where the other nodes pull its streams from (the shared one lands anywhere). */
  own: TCPSocketListener<RtmpSocketData> | null;
}

/** `access`: what a publish or play must pass (the authorizer, and with a cluster the publish's claim). */
function listenRtmp(
  config: Config,
  core: Core,
  access: AccessCheck,
  { registry }: Streams,
  connections: ConnectionTable,
  worker: WorkerNode | null,
): RtmpListeners {
  const { log, events, stats } = core;
  const { handshakeMs, readMs, writeMs } = config.timeouts;
  const handlers = (protocol: string) =>
    rtmpHandlers(
      { hub: registry, access, events, log, stats, connections },
      { chunkSize: config.chunkSize, maxMessageSize: config.maxMessageSize, handshakeMs, readMs, writeMs },
      config.maxConnections,
      protocol,
    );
  // A worker binds the port the supervisor reserved, shared with the others (SO_REUSEPORT: typed only for
  // connect, but honoured by listen, bun-notes §1.1).
  const address = { ...config.listen, port: worker?.ports.rtmp ?? config.listen.port };
  const shared = worker === null ? {} : ({ reusePort: true } as object);
  const listener = listenOrExplain(address, "rtmp", () =>
    Bun.listen<RtmpSocketData>({ hostname: address.host, port: address.port, ...shared, socket: handlers("rtmp") }),
  );
  log.info("listening", { address: hostPort(address.host, listener.port), protocol: "rtmp" });
  const tlsAddress = config.tls.listen === null ? null : { ...config.tls.listen, port: worker?.ports.rtmps ?? config.tls.listen.port };
  const files = config.tls;
  const tls =
    tlsAddress === null
      ? null
      : listenOrExplain(tlsAddress, "rtmps", () => new TlsListener(tlsAddress, handlers("rtmps"), () => tlsCertificate(files), files.cert, log, worker !== null));
  const ownHost = ownListenerHost(config);
  const own =
    worker === null ? null : listenOrExplain({ host: ownHost, port: 0 }, "rtmp, this worker's own", () => Bun.listen<RtmpSocketData>({ hostname: ownHost, port: 0, socket: handlers("rtmp") }));
  if (own !== null) log.info("listening", { address: hostPort(ownHost, own.port), protocol: "rtmp", for: "cluster pulls" });
  return { listener, tls, own };
}

/** A worker's own RTMP port is for its sibling workers (loopback), and for other machines' nodes with Redis. */
function ownListenerHost(config: Config): string {
  return config.cluster.redis === "" ? "127.0.0.1" : config.listen.host;
}

/**
 * This node in the cluster: its id and advertise URL (the defaults need the bound RTMP port), and with
 * cluster.redis its registry, which the publishes' claims join.
 */
interface ClusterNode {
  identity: Owner;
  registry: ClusterRegistry | null;
}

function joinCluster(
  config: Config,
  { log }: Core,
  rtmp: RtmpListeners,
  claims: PublishClaims | null,
  connections: ConnectionTable,
  worker: WorkerNode | null,
): ClusterNode {
  const machine = nodeIdentity(config.cluster, config.listen.host, rtmp.listener.port);
  const identity = worker === null || rtmp.own === null ? machine : workerIdentity(config, machine, worker.index, rtmp.own.port);
  if (claims === null) return { identity, registry: null };
  if (config.cluster.redis !== "" && config.cluster.advertise === "" && isWildcardHost(config.listen.host)) {
    log.warn("cluster.advertise is empty and listen is on every interface: other machines cannot reach this node at the URL it registers", { ...identity });
  }
  // Workers without Redis: the supervisor keeps the registry for them.
  const registry =
    config.cluster.redis === "" && worker !== null
      ? new SupervisorRegistry(worker.channel, identity)
      : new RedisRegistry({ url: config.cluster.redis, ...identity }, log, () => connections.size);
  claims.join(registry);
  registry.start();
  return { identity, registry };
}

/**
 * A worker is a node of its own, reached on its own RTMP port: by its siblings on loopback, by other machines'
 * nodes (Redis) at the machine's advertised host.
 */
function workerIdentity(config: Config, machine: Owner, index: number, ownPort: number): Owner {
  const host = config.cluster.redis === "" ? "127.0.0.1" : urlHost(new URL(machine.advertise));
  return { nodeId: workerNodeId(machine.nodeId, index), advertise: advertiseUrl(host, ownPort) };
}

/**
 * Pull on demand (cluster.redis or cluster.origins): a stream asked for here and published elsewhere is
 * pulled from its owner, found in the cluster's registry or among the origins.
 */
function startPulls(config: Config, { log, events }: Core, { registry }: Streams, cluster: ClusterNode): Pulls | null {
  const { origins, secret, pullIdleMs } = config.cluster;
  if (cluster.registry === null && origins.length === 0) return null;
  const { handshakeMs, readMs } = config.timeouts;
  const settings = { origins, secret, idleMs: pullIdleMs, chunkSize: config.chunkSize, maxMessageSize: config.maxMessageSize, replyTimeoutMs: handshakeMs, readMs };
  const pulls = new Pulls(settings, { registry, cluster: cluster.registry, events, log });
  registry.source = pulls;
  return pulls;
}

/** The operator surface on http.listen: API, metrics, dashboard, health, and the HTTP-FLV/WS-FLV players. */
function listenHttp(
  config: Config,
  core: Core,
  { registry, recorder, relay, hls }: Streams,
  connections: ConnectionTable,
  worker: WorkerNode | null,
  cluster: ClusterNode,
  pulls: Pulls | null,
): HttpServer | null {
  const listen = config.http.listen;
  if (listen === null) return null;
  const address = { ...listen, port: worker?.ports.http ?? listen.port };
  const { log, events, stats, hooks, authorizer } = core;
  const { handshakeMs, writeMs, readMs } = config.timeouts;
  const http = listenOrExplain(address, "http", () =>
    startHttp({
      settings: { listen: address, apiToken: config.http.apiToken, flv: config.http.flv, handshakeMs, writeMs, readMs, maxConnections: config.maxConnections, reusePort: worker !== null },
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
      // The pull layer is on exactly when there is a cluster to show (a registry, or origins).
      cluster: pulls === null ? null : { ...cluster.identity, registry: cluster.registry, pulls },
      worker: worker?.channel ?? null,
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
  cluster: ClusterNode;
  pulls: Pulls | null;
  http: HttpServer | null;
  timers: Timers;
}

/** The graceful stop, run once however often it is asked for. */
function stopOnce(parts: Parts): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () => (stopping ??= stop(parts));
}

async function stop({ config, core, streams, connections, rtmp, cluster, pulls, http, timers }: Parts): Promise<void> {
  rtmp.listener.stop(false);
  rtmp.tls?.stop(false);
  rtmp.own?.stop(false);
  timers.stop();
  const deadline = performance.now() + config.timeouts.shutdownMs;
  // Relays before publishers, so that destinations hear why they end (a publisher leaving would end them too).
  const relayDone = streams.relay.stop(deadline);
  // Pulls first: no new ones while the streams end, and the pulled streams end like the others.
  const pullsDone = pulls?.stop();
  // Publishers first, so that their players are told the stream ended (and recordings end).
  for (const stream of streams.registry.streams.values()) stream.publisher?.close("server shutting down");
  // This node's claims go at once: its streams may be published again elsewhere while these players drain.
  const outputsDone = Promise.all([streams.recorder.stop(deadline), relayDone, http?.stop(deadline), cluster.registry?.stop(), pullsDone]);
  while (performance.now() < deadline && !connections.flushed) await Bun.sleep(20);
  await outputsDone;
  for (const connection of [...connections.values()]) connection.close("server shutting down");
  rtmp.listener.stop(true);
  rtmp.tls?.stop(true);
  rtmp.own?.stop(true);
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
