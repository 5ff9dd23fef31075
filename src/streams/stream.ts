/**
 * One live stream (app/name): its publisher, its players, and what a late joiner needs (metadata, sequence
 * headers, the current GOP). Each message from the publisher is chunk-encoded once and the same bytes go to
 * every player's queue; nothing is allocated per player per message.
 */
import type { Logger } from "../logger.ts";
import { dataArgsOffset } from "../protocol/command.ts";
import { streamBegin, streamEof } from "../protocol/control.ts";
import { MessageType, type RtmpMessage } from "../protocol/message.ts";
import {
  audioCodecName,
  isAudioSequenceHeader,
  isVideoKeyframe,
  isVideoSequenceHeader,
  videoCodecName,
} from "../protocol/codec-info.ts";
import type { Peer, Playback, Publication } from "../session/hub.ts";
import { encode, type Encoded } from "./encoded.ts";
import { GopCache } from "./gop-cache.ts";
import { Subscriber } from "./subscriber.ts";

export interface StreamSettings {
  chunkSize: number;
  gopCache: boolean;
  gopCacheMaxBytes: number;
  maxSubscriberLagMs: number;
}

/** A cached message kept with its payload, so it can be re-sent to a joiner at another timestamp. */
interface Cached {
  type: number;
  payload: Uint8Array;
  encoded: Encoded;
}

export class Stream {
  private publication: LivePublication | null = null;
  readonly subscribers: Subscriber[] = [];
  private metadata: Cached | null = null;
  private videoHeader: Cached | null = null;
  private audioHeader: Cached | null = null;
  private readonly gop: GopCache;
  private hasVideo = false;
  private lastTimestamp = 0;
  private readonly log: Logger;

  constructor(
    readonly key: string,
    private readonly settings: StreamSettings,
    log: Logger,
    /** Called whenever the stream may have become empty (no publisher, no players). */
    private readonly onIdle: (stream: Stream) => void,
  ) {
    this.log = log.child({ stream_key: key });
    this.gop = new GopCache(settings.gopCacheMaxBytes);
  }

  /** Start publishing. With `takeover`, the previous publisher was replaced: players are not told it left. */
  publish(peer: Peer, takeover: boolean): Publication {
    this.endPublication();
    this.publication = new LivePublication(this, peer);
    this.log.info("publish start", { conn_id: peer.id, players: this.subscribers.length });
    for (const sub of this.subscribers) {
      // A fresh publisher starts from its first message; a takeover lands mid-stream for the players.
      sub.waitKeyframe = takeover;
      if (!takeover) {
        sub.peer.send(streamBegin(sub.streamId));
        sub.peer.sendStatus(sub.streamId, "status", "NetStream.Play.PublishNotify", `${this.key} is now published.`);
      }
    }
    return this.publication;
  }

  /** The publisher left: tell the players (they stay, waiting for the next one). */
  unpublish(): void {
    if (this.publication === null) return;
    this.endPublication();
    for (const sub of this.subscribers) {
      sub.peer.sendStatus(sub.streamId, "status", "NetStream.Play.UnpublishNotify", `${this.key} is now unpublished.`);
      sub.peer.send(streamEof(sub.streamId));
    }
    this.onIdle(this);
  }

  /** Deactivate the current publication and forget everything cached from it. */
  private endPublication(): void {
    const publication = this.publication;
    if (publication === null) return;
    this.log.info("publish stop", {
      conn_id: publication.peer.id,
      messages: publication.messages,
      bytes: publication.bytes,
      duration_ms: Math.round(performance.now() - publication.since),
    });
    publication.active = false;
    this.publication = null;
    this.metadata = this.videoHeader = this.audioHeader = null;
    this.gop.clear();
    this.hasVideo = false;
  }

  addSubscriber(peer: Peer, streamId: number): Playback {
    const sub = new Subscriber(peer, streamId, this.settings.maxSubscriberLagMs);
    this.subscribers.push(sub);
    this.log.info("play start", { conn_id: peer.id, publishing: this.publisher !== null, players: this.subscribers.length });
    if (this.publisher !== null) this.replayTo(sub);
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        const i = this.subscribers.indexOf(sub);
        if (i >= 0) this.subscribers.splice(i, 1);
        this.log.info("play stop", {
          conn_id: peer.id,
          dropped: sub.dropped,
          duration_ms: Math.round(performance.now() - sub.since),
          players: this.subscribers.length,
        });
        this.onIdle(this);
      },
    };
  }

  get publisher(): Peer | null {
    return this.publication?.peer ?? null;
  }

  get idle(): boolean {
    return this.publisher === null && this.subscribers.length === 0;
  }

  /** Metadata, sequence headers, then the GOP, all stamped so the joiner sees no jump back in time. */
  private replayTo(sub: Subscriber): void {
    const frames = this.settings.gopCache ? this.gop.frames : [];
    const ts = frames.length > 0 ? frames[0].timestamp : this.lastTimestamp;
    for (const c of [this.metadata, this.videoHeader, this.audioHeader]) {
      if (c !== null) sub.sendKeep(encode(c.type, ts, c.payload, this.settings.chunkSize));
    }
    const now = performance.now();
    for (const f of frames) sub.sendMedia(f, now, this.hasVideo);
  }

  onMedia(m: RtmpMessage, publication: LivePublication): void {
    const payload = m.payload;
    if (payload.length === 0) return;
    publication.messages++;
    publication.bytes += payload.length;
    this.lastTimestamp = m.timestamp;
    const video = m.type === MessageType.Video;
    if (video) this.hasVideo = true;
    if (video ? isVideoSequenceHeader(payload) : isAudioSequenceHeader(payload)) {
      const cached = this.cache(m.type, m.timestamp, payload);
      if (video) this.videoHeader = cached;
      else this.audioHeader = cached;
      this.log.info(video ? "video codec" : "audio codec", {
        codec: video ? videoCodecName(payload) : audioCodecName(payload),
        bytes: payload.length,
      });
      for (const sub of this.subscribers) sub.sendKeep(cached.encoded);
      return;
    }
    const e = encode(m.type, m.timestamp, payload, this.settings.chunkSize, video && isVideoKeyframe(payload));
    if (this.settings.gopCache) this.gop.add(e);
    const now = performance.now();
    const hasVideo = this.hasVideo;
    const subs = this.subscribers;
    for (let i = 0; i < subs.length; i++) subs[i].sendMedia(e, now, hasVideo);
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
    let e: Encoded;
    if (name === "@setDataFrame" || name === "onMetaData") {
      this.metadata = this.cache(MessageType.DataAmf0, m.timestamp, payload);
      e = this.metadata.encoded;
    } else {
      e = encode(MessageType.DataAmf0, m.timestamp, payload, this.settings.chunkSize);
    }
    for (const sub of this.subscribers) sub.sendKeep(e);
  }

  private cache(type: number, timestamp: number, payload: Uint8Array): Cached {
    // A copy: a view would pin the whole socket read it came from for as long as the stream lives.
    const copy = payload.slice();
    return { type, payload: copy, encoded: encode(type, timestamp, copy, this.settings.chunkSize) };
  }
}

/** One publish of a stream. Once replaced or ended it is inactive, so a stale session cannot touch the stream. */
class LivePublication implements Publication {
  active = true;
  messages = 0;
  bytes = 0;
  readonly since = performance.now();

  constructor(
    private readonly stream: Stream,
    readonly peer: Peer,
  ) {}

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
