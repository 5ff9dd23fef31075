/**
 * A media or data message chunk-encoded once (FMT0 first chunk, so valid for any receiver) and shared by
 * every subscriber, the GOP cache and late joiners. Encoded for stream id 1, which is what createStream
 * hands out first; players on another stream id share one copy with the id patched, made once per message.
 */
import { encodeMessage } from "../protocol/chunk-writer.ts";
import { Csid, MessageType, type RtmpMessage } from "../protocol/message.ts";

const ENCODED_STREAM_ID = 1;

export interface Encoded {
  readonly bytes: Uint8Array;
  readonly timestamp: number;
  readonly video: boolean;
  readonly keyframe: boolean;
  /** The copy for a player on another stream id, made on first need. */
  other?: { streamId: number; bytes: Uint8Array };
}

function csidFor(type: number): number {
  return type === MessageType.Audio ? Csid.Audio : type === MessageType.Video ? Csid.Video : Csid.Data;
}

export function encode(type: number, timestamp: number, payload: Uint8Array, chunkSize: number, keyframe = false): Encoded {
  const message: RtmpMessage = { csid: csidFor(type), type, streamId: ENCODED_STREAM_ID, timestamp, payload };
  return { bytes: encodeMessage(message, chunkSize), timestamp, video: type === MessageType.Video, keyframe };
}

/** The chunks for a player on `streamId`: only the FMT0 header carries the id (bytes 8-11, LE). */
export function bytesFor(e: Encoded, streamId: number): Uint8Array {
  if (streamId === ENCODED_STREAM_ID) return e.bytes;
  if (e.other?.streamId !== streamId) {
    const copy = e.bytes.slice();
    new DataView(copy.buffer).setUint32(8, streamId, true);
    e.other = { streamId, bytes: copy };
  }
  return e.other.bytes;
}
