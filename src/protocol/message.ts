/**
 * What an RTMP message is once the chunk layer has reassembled it, and the numbers that name message types
 * and the chunk streams we send on. Shared by every other protocol module.
 */

/** Room a message was assembled in for its receiver (see chunk-reader.ts's PayloadStore). */
export interface StoredPayload {
  /** Exactly the message's length. */
  readonly bytes: Uint8Array;
  release(): void;
}

export interface RtmpMessage {
  /** Chunk stream id it arrived on, or the one to send it on. */
  csid: number;
  /** Message type id (see MessageType). */
  type: number;
  /** Message stream id (0 for the NetConnection, createStream's id for a NetStream). */
  streamId: number;
  /** Absolute timestamp in milliseconds, an unsigned 32-bit value that wraps. */
  timestamp: number;
  /** The message body. May be a view into a larger buffer: copy it before keeping it long. */
  payload: Uint8Array;
  /**
   * Set when the payload was assembled in room its receiver provided (chunk-reader.ts's PayloadStore): that
   * room, which the receiver may keep by taking a reference instead of copying. Valid during delivery only.
   */
  stored?: StoredPayload;
}

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

/**
 * Chunk stream ids we send on. Control and commands go through a connection's stateful ChunkWriter; media
 * and data are laid out from the shared frame as each output copies it, always with FMT0 first chunks, so
 * they use chunk streams of their own that the stateful writer never touches.
 */
export const Csid = {
  Control: 2,
  Command: 3,
  StreamCommand: 5,
  Audio: 6,
  Video: 7,
  Data: 8,
} as const;
