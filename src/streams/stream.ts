/**
 * One live stream (app/name): its publisher, its players, its other outputs (recorder, relays), and what a
 * late joiner needs (metadata, sequence headers, the current GOP). This is where a published frame goes:
 * onMedia() stores it once (Frame), then hands the same frame to the GOP cache, every player's queue and
 * every output; nothing is copied or allocated per player per message.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { type AudioDetails, audioDetails, type VideoDetails, videoDetails } from "../media/codec-details.ts";
import { Frame, FrameArena, type FrameLayout } from "../media/frame.ts";
import { MediaStats, type StatsSnapshot } from "../media/stats.ts";
import { dataArgsOffset } from "../protocol/command.ts";
import { MessageType, type RtmpMessage, type StoredPayload } from "../protocol/message.ts";
import {
  audioCodecName,
  isAudioSequenceHeader,
  opensGop,
  isVideoSequenceHeader,
  videoCodecName,
} from "../media/codec-info.ts";
import type { Peer, Playback, Publication } from "../shared/hub.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import type { StreamName } from "../shared/stream-name.ts";
import { GopCache } from "./gop-cache.ts";
import type { OutputFactory, PublishedStream, StreamOutput } from "./output.ts";
import { Subscriber } from "./subscriber.ts";
import { sameBytes } from "../protocol/bytes.ts";

/**
 * How long a joiner's GOP burst waits (see addSubscriber): small next to a GOP and to what a viewer notices,
 * large next to the time between a client's play and a close it sends right behind it (they travel together).
 */
const JOIN_DELAY_MS = 5;

export interface StreamSettings {
  chunkSize: number;
  gopCache: boolean;
  gopCacheMaxBytes: number;
  maxSubscriberLagMs: number;
}

/** Everything a stream reports to: its logger, the event channel, and who makes its outputs. */
export interface StreamContext {
  log: Logger;
  events: EventChannel;
  outputs: OutputFactory;
  stats: ServerStats;
}

export class Stream implements PublishedStream {
  readonly app: string;
  readonly name: string;
  private publication: LivePublication | null = null;
  readonly subscribers: Subscriber[] = [];
  private outputs: StreamOutput[] = [];
  metadata: Frame | null = null;
  videoHeader: Frame | null = null;
  audioHeader: Frame | null = null;
  private readonly gop: GopCache;
  hasVideo = false;
  lastTimestamp = 0;
  private readonly log: Logger;

  constructor(
    name: StreamName,
    private readonly settings: StreamSettings,
    private readonly context: StreamContext,
    /** Called whenever the stream may have become empty (no publisher, no players). */
    private readonly onIdle: (stream: Stream) => void,
  ) {
    this.app = name.app;
    this.name = name.name;
    this.log = context.log.child({ stream_key: this.key });
    this.gop = new GopCache(settings.gopCacheMaxBytes);
  }

  get key(): string {
    return this.app === "" ? this.name : `${this.app}/${this.name}`;
  }

  /** Start publishing. With `takeover`, the previous publisher was replaced: players are not told it left. */
  publish(peer: Peer, takeover: boolean): Publication {
    this.endPublication();
    const publication = (this.publication = new LivePublication(this, peer));
    this.log.info("publish start", { conn_id: peer.id, players: this.subscribers.length });
    this.context.events.emit("publish_start", { connId: peer.id, streamKey: this.key }, { app: this.app, publishing_name: this.name });
    // A copy: a player told about the change may leave at once (an HTTP-FLV response ends).
    for (const sub of [...this.subscribers]) {
      // A fresh publisher starts from its first message; a takeover lands mid-stream for the players.
      sub.waitKeyframe = takeover;
      if (!takeover) sub.peer.publishChanged(sub.streamId, this.key, true);
    }
    this.outputs = this.context.outputs(this);
    return publication;
  }

  /** The publisher left: tell the players (they stay, waiting for the next one). */
  unpublish(): void {
    if (this.publication === null) return;
    this.endPublication();
    for (const sub of [...this.subscribers]) sub.peer.publishChanged(sub.streamId, this.key, false);
    this.onIdle(this);
  }

  /** Deactivate the current publication, end its outputs and forget everything cached from it. */
  private endPublication(): void {
    const publication = this.publication;
    if (publication === null) return;
    const stats = publication.stats.snapshot(performance.now());
    this.log.info("media stats", { final: true, ...statsFields(stats) });
    this.log.info("publish stop", { conn_id: publication.peer.id, duration_s: stats.duration_s });
    this.context.events.emit(
      "publish_stop",
      { connId: publication.peer.id, streamKey: this.key },
      {
        audio_packets: stats.audio_packets,
        video_packets: stats.video_packets,
        total_bytes: stats.total_bytes,
        audio_codec: stats.audio?.codec ?? "",
        video_codec: stats.video?.codec ?? "",
        duration_sec: stats.duration_s,
      },
    );
    publication.active = false;
    this.publication = null;
    for (const output of this.outputs) output.end();
    this.outputs = [];
    publication.arena.close();
    this.metadata = this.videoHeader = this.audioHeader = null;
    this.gop.clear();
    this.hasVideo = false;
  }

  /**
   * An output joining mid-publication (an HLS muxer started by its first viewer): it gets the metadata,
   * the sequence headers and the GOP cache now, then every frame. False when nothing is published.
   */
  addOutput(output: StreamOutput): boolean {
    if (this.publication === null) return false;
    for (const header of [this.metadata, this.videoHeader, this.audioHeader]) if (header !== null) output.frame(header);
    if (this.settings.gopCache) for (const frame of this.gop.frames) output.frame(frame);
    this.outputs.push(output);
    return true;
  }

  /** An output that stops before the publication ends (it is not told end()). */
  removeOutput(output: StreamOutput): void {
    const i = this.outputs.indexOf(output);
    if (i >= 0) this.outputs.splice(i, 1);
  }

  /** The current publication's statistics, or null when nobody publishes. */
  stats(now: number): StatsSnapshot | null {
    return this.publication?.stats.snapshot(now) ?? null;
  }

  /** When the current publication started (Unix ms), or null. */
  get publishedSince(): number | null {
    return this.publication?.startedAt ?? null;
  }

  /** Record each player's lag (the age of its oldest queued frame) in the server's histogram. */
  sampleLag(now: number): void {
    for (const sub of this.subscribers) this.context.stats.playerLag.observe(sub.lag(now) / 1000);
  }

  /** The `media stats` log line, every log.stats_interval while publishing. */
  logStats(now: number): void {
    const stats = this.stats(now);
    if (stats !== null) this.log.info("media stats", statsFields(stats));
  }

  addSubscriber(peer: Peer, streamId: number, layout: FrameLayout): Playback {
    const sub = new Subscriber(peer, streamId, layout, this.settings.maxSubscriberLagMs, this.context.stats);
    this.subscribers.push(sub);
    this.log.info("play start", { conn_id: peer.id, publishing: this.publisher !== null, players: this.subscribers.length });
    this.context.events.emit("play_start", { connId: peer.id, streamKey: this.key }, { app: this.app, protocol: peer.protocol });
    this.emitCount(peer.id);
    let ended = false;
    // The GOP burst waits a moment: a client that sends play and closes at once (scanners, health checks,
    // impatient players) is seen closing first, and costs no burst written into a dying socket. Until then
    // the player takes no live frames; the GOP it then gets covers them.
    let joining: ReturnType<typeof setTimeout> | undefined;
    if (this.publisher !== null) {
      sub.joining = true;
      joining = setTimeout(() => {
        sub.joining = false;
        if (!ended && this.publisher !== null) this.replayTo(sub);
      }, JOIN_DELAY_MS);
    }
    return {
      end: () => {
        if (ended) return;
        ended = true;
        clearTimeout(joining);
        const i = this.subscribers.indexOf(sub);
        if (i >= 0) this.subscribers.splice(i, 1);
        const durationSec = (performance.now() - sub.since) / 1000;
        this.log.info("play stop", {
          conn_id: peer.id,
          dropped: sub.dropped,
          duration_ms: Math.round(durationSec * 1000),
          players: this.subscribers.length,
        });
        this.context.events.emit(
          "play_stop",
          { connId: peer.id, streamKey: this.key },
          { duration_sec: Math.round(durationSec * 1000) / 1000, dropped: sub.dropped, protocol: peer.protocol },
        );
        this.emitCount(peer.id);
        this.onIdle(this);
      },
    };
  }

  private emitCount(connId: string): void {
    this.context.events.emit("subscriber_count", { connId, streamKey: this.key }, { count: this.subscribers.length });
  }

  get relayHops(): number {
    return this.publication?.peer.relayHops ?? 0;
  }

  get origin(): string | null {
    return this.publication?.peer.origin ?? null;
  }

  get publisher(): Peer | null {
    return this.publication?.peer ?? null;
  }

  get idle(): boolean {
    return this.publisher === null && this.subscribers.length === 0;
  }

  /**
   * Metadata at timestamp 0 (libavformat players take onMetaData as stream metadata only at 0, and make a
   * data stream of it otherwise), then the sequence headers stamped with the GOP's first timestamp so the
   * joiner sees no jump back in time, then the GOP.
   */
  private replayTo(sub: Subscriber): void {
    const frames = this.settings.gopCache ? this.gop.frames : [];
    const ts = frames.length > 0 ? frames[0].timestamp : this.lastTimestamp;
    if (this.metadata !== null) sub.sendKeep(this.metadata);
    for (const header of [this.videoHeader, this.audioHeader]) {
      if (header !== null) sub.sendKeep(header.timestamp === ts ? header : header.restamped(ts));
    }
    const now = performance.now();
    // The cache starts with its audio lead, then a keyframe: all of it is for the joiner.
    if (frames.length > 0) sub.waitKeyframe = false;
    for (const f of frames) sub.sendMedia(f, now, this.hasVideo);
  }

  onMedia(m: RtmpMessage, publication: LivePublication): void {
    const payload = m.payload;
    if (payload.length === 0) return;
    const video = m.type === MessageType.Video;
    const now = performance.now();
    this.lastTimestamp = m.timestamp;
    if (video) this.hasVideo = true;
    if (video ? isVideoSequenceHeader(payload) : isAudioSequenceHeader(payload)) {
      publication.stats.onMedia(video, m.timestamp, payload.length, false, now);
      this.onSequenceHeader(m, video, publication);
      return;
    }
    const keyframe = video && opensGop(payload);
    publication.stats.onMedia(video, m.timestamp, payload.length, keyframe, now);
    // Codecs without a sequence header (MP3, Speex, ...) describe themselves in every frame.
    if (!video && !publication.audioKnown) this.detectAudio(payload, publication);
    const frame = publication.arena.frame(m.type, m.timestamp, payload, keyframe, m.stored);
    if (this.settings.gopCache) this.gop.add(frame, publication.arena);
    const hasVideo = this.hasVideo;
    const subs = this.subscribers;
    for (let i = 0; i < subs.length; i++) subs[i].sendMedia(frame, now, hasVideo);
    const outputs = this.outputs;
    for (let i = 0; i < outputs.length; i++) outputs[i].frame(frame);
    frame.release();
  }

  private onSequenceHeader(m: RtmpMessage, video: boolean, publication: LivePublication): void {
    const previous = video ? this.videoHeader : this.audioHeader;
    // A copy outside the slabs: headers live as long as the publication, and may be restamped for joiners.
    const header = new Frame(m.type, m.timestamp, m.payload.slice(), false, true);
    if (video) this.videoHeader = header;
    else this.audioHeader = header;
    if (previous === null || !sameBytes(previous.payload, header.payload)) {
      if (video) this.codecDetected(videoDetails(header.payload) ?? { codec: videoCodecName(header.payload) ?? "unknown" }, null, publication);
      else this.detectAudio(header.payload, publication, true);
    }
    this.deliverHeader(header);
  }

  /** Audio details from a sequence header, or from a self-describing frame; `force` names even an unreadable one. */
  private detectAudio(payload: Uint8Array, publication: LivePublication, force = false): void {
    const details = audioDetails(payload);
    if (details === null && !force) return;
    publication.audioKnown = details?.sampleRate !== undefined;
    this.codecDetected(null, details ?? { codec: audioCodecName(payload) ?? "unknown" }, publication);
  }

  private codecDetected(video: VideoDetails | null, audio: AudioDetails | null, publication: LivePublication): void {
    if (video !== null) publication.stats.setVideo(video);
    if (audio !== null) publication.stats.setAudio(audio);
    const fields: Record<string, string | number> = { kind: video !== null ? "video" : "audio" };
    for (const [key, value] of Object.entries(video ?? audio ?? {})) {
      if (value !== undefined) fields[snakeCase(key)] = value;
    }
    // "level" is the logger's own field: the codec's goes in the log as codec_level.
    const { level, ...logFields } = fields;
    this.log.info("codec detected", level === undefined ? logFields : { ...logFields, codec_level: level });
    this.context.events.emit("codec_detected", { connId: publication.peer.id, streamKey: this.key }, fields);
  }

  onData(m: RtmpMessage, name: string): void {
    let payload = m.payload;
    if (name === "@setDataFrame") {
      // @setDataFrame("onMetaData", {...}) is forwarded and cached as onMetaData({...}).
      payload = payload.subarray(dataArgsOffset(payload));
    } else if (name === "@clearDataFrame") {
      this.metadata = null;
      return;
    }
    if (name === "@setDataFrame" || name === "onMetaData") {
      // Always at timestamp 0, live as on replay: that is where players look for stream metadata.
      this.metadata = new Frame(MessageType.DataAmf0, 0, payload.slice(), false, true);
      this.deliverHeader(this.metadata);
      return;
    }
    // Cue points, captions, text: timed data, forwarded at its own time to whoever is listening now.
    const frame = new Frame(MessageType.DataAmf0, m.timestamp, payload.slice(), false, false);
    for (const sub of this.subscribers) sub.sendKeep(frame);
    for (const output of this.outputs) output.frame(frame);
  }

  private deliverHeader(header: Frame): void {
    for (const sub of this.subscribers) sub.sendKeep(header);
    for (const output of this.outputs) output.frame(header);
  }
}

/** One publish of a stream. Once replaced or ended it is inactive, so a stale session cannot touch the stream. */
class LivePublication implements Publication {
  active = true;
  /** Audio details are complete (a sample rate is known): no need to look at frames for them. */
  audioKnown = false;
  readonly startedAt = Date.now();
  readonly stats = new MediaStats(performance.now());
  /** Where this publication's frames are stored. */
  readonly arena = new FrameArena();

  constructor(
    private readonly stream: Stream,
    readonly peer: Peer,
  ) {}

  reserve(length: number): StoredPayload | null {
    return this.active ? this.arena.reserve(length) : null;
  }

  media(m: RtmpMessage): void {
    if (this.active) this.stream.onMedia(m, this);
  }

  data(m: RtmpMessage, name: string): void {
    if (this.active) this.stream.onData(m, name);
  }

  end(): void {
    if (this.active) this.stream.unpublish();
  }
}

/** A stats snapshot as flat log fields: codec details under video_ / audio_ prefixes. */
function statsFields(stats: StatsSnapshot): Record<string, unknown> {
  const { video, audio, ...counters } = stats;
  return {
    ...counters,
    video_codec: video?.codec ?? null,
    width: video?.width ?? null,
    height: video?.height ?? null,
    audio_codec: audio?.codec ?? null,
    sample_rate: audio?.sample_rate ?? null,
    channels: audio?.channels ?? null,
  };
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
