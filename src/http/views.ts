/**
 * Streams and connections as the JSON API shows them (snake_case, times as ISO 8601 UTC). Built from what
 * the registry, the connection table, the recorder and the relays hold right now; nothing is kept here.
 */
import type { Connection, ConnectionTable } from "../shared/connections.ts";
import type { Recorder } from "../record/recorder.ts";
import type { Relay } from "../relay/relay.ts";
import type { Stream } from "../streams/stream.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import type { HlsEndpoint } from "../hls/hls-endpoint.ts";
import type { HlsMuxers } from "../hls/muxers.ts";

export interface ViewSources {
  connections: ConnectionTable;
  recorder: Pick<Recorder, "recording">;
  relay: Pick<Relay, "status">;
  /** HLS viewers are sessions, not subscribers: counted by the HLS endpoint (null without HLS). */
  hlsViewers: Pick<HlsEndpoint, "viewerCount"> | null;
  /** Which streams have a watch page (null without HLS). */
  hls: Pick<HlsMuxers, "offered"> | null;
}

export type ConnectionView = ReturnType<typeof connectionView>;
export type StreamView = ReturnType<typeof streamView>;

/** Every stream the registry holds, by key. */
export function streamViews(sources: ViewSources & { registry: StreamRegistry }): StreamView[] {
  const now = performance.now();
  const streams = [...sources.registry.streams.values()].map((s) => streamView(s, sources, now));
  return streams.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function connectionView(c: Connection) {
  return {
    conn_id: c.id,
    remote_addr: c.remoteAddress,
    role: c.role,
    stream_key: c.streamKey,
    protocol: c.protocol,
    since: new Date(c.since).toISOString(),
    bytes_in: c.bytesIn,
    bytes_out: c.bytesOut,
  };
}

export function streamView(stream: Stream, sources: ViewSources, now: number) {
  const stats = stream.stats(now);
  const publisher = stream.publisher;
  const publisherConnection = publisher === null ? undefined : sources.connections.get(publisher.id);
  const since = stream.publishedSince;
  const players: Record<string, number> = {};
  let bytesOut = 0;
  let dropped = 0;
  for (const sub of stream.subscribers) {
    players[sub.peer.protocol] = (players[sub.peer.protocol] ?? 0) + 1;
    bytesOut += sub.peer.outbox.bytesSent;
    dropped += sub.dropped;
  }
  const hls = sources.hlsViewers?.viewerCount(stream.key) ?? 0;
  if (hls > 0) players.hls = hls;
  const video = stats?.video ?? null;
  const audio = stats?.audio ?? null;
  return {
    key: stream.key,
    app: stream.app,
    name: stream.name,
    publisher:
      publisher === null
        ? null
        : {
            conn_id: publisher.id,
            remote_addr: publisherConnection?.remoteAddress ?? "",
            protocol: publisher.protocol,
            since: since === null ? null : new Date(since).toISOString(),
          },
    video:
      video === null
        ? null
        : {
            codec: video.codec,
            width: video.width,
            height: video.height,
            fps: stats!.fps,
            profile: video.profile,
            level: video.level,
          },
    audio: audio === null ? null : { codec: audio.codec, sample_rate: audio.sample_rate, channels: audio.channels, profile: audio.profile },
    bitrate_kbps: stats?.bitrate_kbps ?? 0,
    duration_s: stats === null ? 0 : Math.round(stats.duration_s),
    players: stream.subscribers.length + hls,
    players_by_protocol: players,
    // Media bytes of the current publication; bytes the current players' connections took.
    bytes_in: stats?.total_bytes ?? 0,
    bytes_out: bytesOut,
    frames_dropped: dropped,
    recording: sources.recorder.recording(stream.key),
    // The watch page (HLS on, the stream offered), as a path: the server's public address is not known here.
    watch_url: sources.hls?.offered(stream.key) ? `/${stream.key.split("/").map(encodeURIComponent).join("/")}/` : null,
    // Null for a stream published here; for a pulled one, the node id or origin URL it comes from.
    origin: stream.origin,
    relays: sources.relay.status(stream.key).map((r) => ({
      url: r.url,
      state: r.state,
      reconnects: r.reconnects,
      bytes_sent: r.bytesSent,
      frames_dropped: r.framesDropped,
    })),
  };
}
