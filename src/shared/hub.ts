/**
 * What a session needs from the stream registry, and what the registry may do to a session. The session
 * layer sits below streams, so it declares these and src/streams/ implements them.
 */
import type { Logger } from "../logger.ts";
import type { FrameLayout } from "../media/frame.ts";
import type { RtmpMessage, StoredPayload } from "../protocol/message.ts";
import type { Outbox } from "./outbox.ts";
import type { StreamName } from "./stream-name.ts";

/** A connection as the registry sees it. */
export interface Peer {
  readonly id: string;
  /** "rtmp", "rtmps", "http-flv" or "ws-flv": for events and the API. */
  readonly protocol: string;
  readonly outbox: Outbox;
  readonly log: Logger;
  /** performance.now() of the last byte received: a publisher silent for too long is stale. */
  readonly lastReadAt: number;
  /** Relays the media came through before reaching us (from connect's relayHops); 0 for an encoder. */
  readonly relayHops: number;
  /** A cluster pull's source (the owner's node id, or the origin URL); absent for a connection to us. */
  readonly origin?: string;
  /**
   * The stream a player plays was published (after a wait) or unpublished: RTMP players are told with
   * Stream Begin + PublishNotify / UnpublishNotify + Stream EOF and stay; an HTTP-FLV response ends.
   */
  publishChanged(streamId: number, streamKey: string, published: boolean): void;
  /**
   * Close the connection, flushing what is queued (a publisher replaced by a newer one), or with `discard`
   * throwing it away (a player whose queue overflowed).
   */
  close(reason: string, discard?: boolean): void;
}

/** A live publish: media flows in through it until it ends. */
export interface Publication {
  /** Room for a media message of `length` bytes in the publication's own storage, or null (see PayloadStore). */
  reserve(length: number): StoredPayload | null;
  media(message: RtmpMessage): void;
  /** A data message (type 18): @setDataFrame/onMetaData and friends, name already decoded. */
  data(message: RtmpMessage, name: string): void;
  end(): void;
}

/** A player subscribed to a stream; ending it unsubscribes. */
export interface Playback {
  end(): void;
}

export interface StreamHub {
  /** Null when the key already has a live publisher and the conflict policy keeps it. */
  publish(peer: Peer, name: StreamName): Publication | null;
  /**
   * Always succeeds: a stream not yet published is waited for. `streamId` is the player's message stream
   * (RTMP) and `layout` the wire form its frames take.
   */
  play(peer: Peer, name: StreamName, streamId: number, layout: FrameLayout): Playback;
}
