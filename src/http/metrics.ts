/**
 * GET /metrics: the server's state and counters in the Prometheus text format, every name prefixed `rtmp_`.
 * Cardinality is bounded: no per-connection labels, and per-stream series only for the MAX_LABELLED_STREAMS
 * busiest published streams (most players, then highest incoming rate); the others are in the totals only.
 */
import pkg from "../../package.json" with { type: "json" };
import type { HlsEndpoint } from "../hls/hls-endpoint.ts";
import type { HlsMuxers } from "../hls/muxers.ts";
import type { ClusterRegistry } from "../cluster/registry.ts";
import type { HookRunner } from "../hooks/hook-runner.ts";
import { HOOK_KINDS } from "../hooks/hook-stats.ts";
import type { Recorder } from "../record/recorder.ts";
import type { Relay } from "../relay/relay.ts";
import type { ConnectionTable } from "../shared/connections.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import type { Stream } from "../streams/stream.ts";
import { Exposition, type Sample } from "./prometheus-text.ts";

/** Published streams that get their own series (`stream` label); documented in the README's bounds table. */
export const MAX_LABELLED_STREAMS = 100;

export interface MetricsSources {
  registry: StreamRegistry;
  connections: ConnectionTable;
  stats: ServerStats;
  hooks: Pick<HookRunner, "stats">;
  recorder: Pick<Recorder, "stats">;
  relay: Pick<Relay, "totals">;
  /** HLS viewers (sessions, not subscribers), or null without HLS. */
  hlsViewers: Pick<HlsEndpoint, "viewerCount"> | null;
  /** HLS muxers, or null without HLS. */
  hls: Pick<HlsMuxers, "size" | "bytes"> | null;
  /** The cluster's registry (cluster.redis), if any. */
  cluster: { registry: Pick<ClusterRegistry, "state"> | null } | null;
  maxConnections: number;
  /** Unix milliseconds when the server started. */
  startedAt: number;
}

export function renderMetrics(s: MetricsSources): string {
  const out = new Exposition();
  out.gauge("rtmp_build_info", "Version of the running server (always 1).", [[{ version: pkg.version }, 1]]);
  out.gauge("rtmp_start_time_seconds", "Unix time the server started.", s.startedAt / 1000);
  out.gauge("rtmp_resident_memory_bytes", "Resident set size of the server process.", process.memoryUsage.rss());
  connectionMetrics(out, s);
  streamMetrics(out, s);
  authAndHookMetrics(out, s);
  outputMetrics(out, s);
  const registry = s.cluster?.registry ?? null;
  if (registry !== null) out.gauge("rtmp_cluster_registry_up", "1 while the cluster registry (Redis) answers, 0 while it does not.", registry.state === "up" ? 1 : 0);
  out.histogram("rtmp_time_to_first_frame_seconds", "Play request to the first video keyframe queued for the player.", s.stats.firstFrame);
  out.histogram("rtmp_player_lag_seconds", "Age of a player's oldest queued frame, sampled once a second per player.", s.stats.playerLag);
  return out.toString();
}

function connectionMetrics(out: Exposition, s: MetricsSources): void {
  const byType = new Map<string, number>();
  let bytesOut = s.stats.closedBytesOut;
  for (const c of s.connections.values()) {
    const key = `${c.protocol}\u0000${c.role === "" ? "none" : c.role}`;
    byType.set(key, (byType.get(key) ?? 0) + 1);
    bytesOut += c.bytesOut;
  }
  const samples: Sample[] = [...byType].map(([key, n]) => {
    const [protocol, role] = key.split("\u0000");
    return [{ protocol, role }, n];
  });
  out.gauge("rtmp_connections", "Open connections, every protocol.", s.connections.size);
  out.gauge("rtmp_connections_by_type", "Open connections by protocol and role (none: neither published nor played yet).", samples);
  out.gauge("rtmp_max_connections", "Configured max_connections.", s.maxConnections);
  out.counter("rtmp_bytes_received_total", "Bytes received from all connections.", s.stats.bytesIn);
  out.counter("rtmp_bytes_sent_total", "Bytes sent to all connections.", bytesOut);
}

function streamMetrics(out: Exposition, s: MetricsSources): void {
  const now = performance.now();
  const published: { stream: Stream; rate: number; fps: number; bytes: number }[] = [];
  const players = new Map<string, number>();
  let playerCount = 0;
  const hlsViewers = (stream: Stream) => s.hlsViewers?.viewerCount(stream.key) ?? 0;
  const viewers = (stream: Stream) => stream.subscribers.length + hlsViewers(stream);
  for (const stream of s.registry.streams.values()) {
    playerCount += viewers(stream);
    for (const sub of stream.subscribers) players.set(sub.peer.protocol, (players.get(sub.peer.protocol) ?? 0) + 1);
    const hls = hlsViewers(stream);
    if (hls > 0) players.set("hls", (players.get("hls") ?? 0) + hls);
    const stats = stream.stats(now);
    if (stats !== null) published.push({ stream, rate: (stats.bitrate_kbps * 1000) / 8, fps: stats.fps, bytes: stats.total_bytes });
  }
  out.gauge("rtmp_streams", "Streams with a publisher.", published.length);
  out.gauge("rtmp_players", "Players subscribed to a stream (waiting ones included), every protocol.", playerCount);
  out.gauge("rtmp_players_by_protocol", "Players by protocol.", [...players].map(([protocol, n]) => [{ protocol }, n] as const));
  out.counter("rtmp_frames_dropped_total", "Media frames players did not get (lag skips, waiting for a keyframe).", s.stats.framesDropped);

  published.sort((a, b) => viewers(b.stream) - viewers(a.stream) || b.rate - a.rate);
  const top = published.slice(0, MAX_LABELLED_STREAMS);
  const per = (value: (p: (typeof top)[number]) => number): Sample[] => top.map((p) => [{ stream: p.stream.key }, value(p)]);
  const limit = `Only the ${MAX_LABELLED_STREAMS} busiest streams.`;
  out.gauge("rtmp_stream_players", `Players of a stream. ${limit}`, per((p) => viewers(p.stream)));
  out.gauge("rtmp_stream_ingest_bytes_per_second", `Incoming media rate over the last seconds. ${limit}`, per((p) => p.rate));
  out.gauge("rtmp_stream_video_frames_per_second", `Incoming video frame rate over the last seconds. ${limit}`, per((p) => p.fps));
  out.counter("rtmp_stream_received_bytes_total", `Media bytes received in the current publication. ${limit}`, per((p) => p.bytes));
}

function authAndHookMetrics(out: Exposition, s: MetricsSources): void {
  out.counter("rtmp_auth_decisions_total", "Publish and play access checks by result.", [
    [{ result: "allowed" }, s.stats.authAllowed],
    [{ result: "denied" }, s.stats.authDenied],
  ]);
  const hooks = s.hooks.stats();
  const deliveries: Sample[] = [];
  const dropped: Sample[] = [];
  for (const kind of HOOK_KINDS) {
    const c = hooks[kind];
    for (const outcome of ["ok", "failed", "timeout"] as const) deliveries.push([{ kind, outcome }, c[outcome]]);
    dropped.push([{ kind }, c.dropped]);
  }
  out.counter("rtmp_hook_deliveries_total", "Hook deliveries by kind and outcome.", deliveries);
  out.counter("rtmp_hook_events_dropped_total", "Events a hook never delivered (queue full, or cut by shutdown).", dropped);
}

function outputMetrics(out: Exposition, s: MetricsSources): void {
  const relay = s.relay.totals();
  const states = Object.entries(relay.destinations).map(([state, n]) => [{ state }, n] as const);
  out.gauge("rtmp_relay_destinations", "Relay destinations of live streams by state.", states);
  out.counter("rtmp_relay_reconnects_total", "Relay connection attempts after the first.", relay.reconnects);
  out.counter("rtmp_relay_bytes_sent_total", "Bytes relay destinations took.", relay.bytesSent);
  out.counter("rtmp_relay_frames_dropped_total", "Media frames relay destinations did not get because they fell behind.", relay.framesDropped);
  if (s.hls !== null) {
    out.gauge("rtmp_hls_muxers", "Streams with an HLS muxer (one starts with a stream's first HLS viewer).", s.hls.size);
    out.gauge("rtmp_hls_window_bytes", "Bytes of segments and parts the HLS muxers hold.", s.hls.bytes);
  }
  const rec = s.recorder.stats();
  out.gauge("rtmp_recordings", "Publications being recorded now.", rec.active);
  out.counter("rtmp_recording_bytes_total", "Bytes written to recording files.", rec.bytes);
  out.counter("rtmp_recording_files_total", "Recording files created.", rec.files);
  out.counter("rtmp_recording_errors_total", "Recording files that ended with an error.", rec.errors);
}
