/**
 * One accepted publish to a relay destination: what it is sent, in order. It starts at a keyframe with
 * onMetaData and the sequence headers stamped at that keyframe, then takes media under the same lag policy
 * as a player (Subscriber). Nothing stamped before that keyframe follows it, and headers and metadata sent
 * later are never stamped behind what the destination already has.
 */
import { Frame } from "../media/frame.ts";
import { RtmpLayout } from "../media/rtmp-layout.ts";
import { encodeData } from "../protocol/command.ts";
import { MessageType } from "../protocol/message.ts";
import type { Outbox } from "../shared/outbox.ts";
import type { PublishedStream } from "../streams/output.ts";
import { Subscriber, type SubscriberPeer } from "../streams/subscriber.ts";
import type { RtmpClient } from "./rtmp-client.ts";

/** A publisher hands metadata to a server wrapped in @setDataFrame, as FFmpeg and OBS do. */
const SET_DATA_FRAME = encodeData("@setDataFrame");

/** `a` is earlier than `b` on RTMP's wrapping 32-bit millisecond clock. */
function earlier(a: number, b: number): boolean {
  const ahead = (b - a) >>> 0;
  return ahead !== 0 && ahead < 0x8000_0000;
}

function asSetDataFrame(metadata: Frame, timestamp: number): Frame {
  const payload = new Uint8Array(SET_DATA_FRAME.length + metadata.payload.length);
  payload.set(SET_DATA_FRAME);
  payload.set(metadata.payload, SET_DATA_FRAME.length);
  return new Frame(MessageType.DataAmf0, timestamp, payload, false, true);
}

export interface RelayConnectionOptions {
  client: RtmpClient;
  streamId: number;
  source: PublishedStream;
  chunkSize: number;
  maxLagMs: number;
  /** The connection must go (its queue passed the hard bound): the owner drops it. */
  onFailure: (reason: string) => void;
}

/** A destination's connection as a player of the source, under the players' lag policy (Subscriber). */
export class RelayConnection implements SubscriberPeer {
  readonly client: RtmpClient;
  readonly streamId: number;
  private readonly subscriber: Subscriber<RelayConnection>;
  private readonly source: PublishedStream;
  private readonly onFailure: (reason: string) => void;
  /** Waiting for the keyframe to start at; nothing is sent before it. */
  private started = false;
  private startTimestamp = 0;
  /** Audio reached the start: from then on it is passed as stamped (a check forever would misfire at the 32-bit wrap). */
  private audioCaughtUp = false;
  /** The latest timestamp sent. */
  private lastTimestamp = 0;

  constructor(options: RelayConnectionOptions) {
    this.client = options.client;
    this.streamId = options.streamId;
    this.source = options.source;
    this.onFailure = options.onFailure;
    const layout = RtmpLayout.of(options.chunkSize, options.streamId);
    this.subscriber = new Subscriber(this, options.streamId, layout, options.maxLagMs, null);
  }

  get outbox(): Outbox {
    return this.client.sendQueue;
  }

  /** Media frames the lag policy dropped. */
  get dropped(): number {
    return this.subscriber.dropped;
  }

  /** Only ever asked to discard (the queue overflowed): the connection is dropped, queue and all. */
  close(reason: string): void {
    this.onFailure(reason);
  }

  /** One frame of the source; with video the destination starts at a keyframe, without at any audio frame. */
  frame(frame: Frame, hasVideo: boolean): void {
    if (!this.started) {
      // Headers seen before the start go out with it, as the source's current ones.
      const startsHere = frame.video ? frame.keyframe : frame.type === MessageType.Audio && !hasVideo;
      if (!startsHere) return;
      this.start(frame.timestamp);
    }
    if (frame.header || frame.type === MessageType.DataAmf0) {
      this.keep(frame);
      return;
    }
    if (!frame.video && !this.audioCaughtUp) {
      // Audio the publisher interleaved just behind the starting keyframe.
      if (earlier(frame.timestamp, this.startTimestamp)) return;
      this.audioCaughtUp = true;
    }
    if (earlier(this.lastTimestamp, frame.timestamp)) this.lastTimestamp = frame.timestamp;
    this.subscriber.sendMedia(frame, performance.now(), hasVideo);
  }

  /** FCUnpublish and deleteStream after everything queued, then close; resolves once the connection is gone. */
  finish(): Promise<void> {
    this.client.unpublish(this.streamId, this.client.url.name);
    return this.client.close();
  }

  /** Metadata first (at 0, where players look for it), then the headers at the starting keyframe's time. */
  private start(timestamp: number): void {
    this.started = true;
    this.startTimestamp = this.lastTimestamp = timestamp;
    const { metadata, videoHeader, audioHeader } = this.source;
    if (metadata !== null) this.subscriber.sendKeep(asSetDataFrame(metadata, 0));
    for (const header of [videoHeader, audioHeader]) {
      if (header !== null) this.subscriber.sendKeep(header.timestamp === timestamp ? header : header.restamped(timestamp));
    }
  }

  /** Metadata, headers and timed data: never dropped, restamped rather than sent back in time. */
  private keep(frame: Frame): void {
    const at = earlier(frame.timestamp, this.lastTimestamp) ? this.lastTimestamp : frame.timestamp;
    const isMetadata = frame.header && frame.type === MessageType.DataAmf0;
    if (isMetadata) this.subscriber.sendKeep(asSetDataFrame(frame, at));
    else this.subscriber.sendKeep(at === frame.timestamp ? frame : frame.restamped(at));
    this.lastTimestamp = at;
  }
}
