/**
 * Outputs other than players: what a recorder or a relay destination gets from a published stream. The
 * streams layer declares this; src/record/ and src/relay/ implement it, and the server says which outputs a
 * publication gets. An output must never slow the publisher: it queues within its own bound and drops past it.
 */
import type { Frame } from "../media/frame.ts";

/** What an output can read of the publication feeding it. */
export interface PublishedStream {
  readonly key: string;
  readonly app: string;
  readonly name: string;
  /** onMetaData (timestamp 0) and the current sequence headers, for an output that (re)starts mid-stream. */
  readonly metadata: Frame | null;
  readonly videoHeader: Frame | null;
  readonly audioHeader: Frame | null;
  /** The publication has carried video (a frame or a sequence header), counting the frame being handed out. */
  readonly hasVideo: boolean;
  /** Timestamp of the last media frame, for restamping headers sent mid-stream. */
  readonly lastTimestamp: number;
  /** Relays the publisher's media came through before reaching us: relays stop a loop with it. */
  readonly relayHops: number;
  /** Null when published here; for a stream pulled from another node, that node's id or the origin URL. */
  readonly origin: string | null;
}

export interface StreamOutput {
  /**
   * Every frame of the publication in order (media, sequence headers, metadata), after the output was
   * created. The frame is valid during the call; retain() it to keep it longer, and release() it after.
   */
  frame(frame: Frame): void;
  /** The publication ended: finish (flush, finalize, disconnect) without blocking. */
  end(): void;
}

/** Made by the server: the outputs one publication feeds, created when it starts. */
export type OutputFactory = (stream: PublishedStream) => StreamOutput[];
