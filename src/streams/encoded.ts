/**
 * A media or data message chunk-encoded once (FMT0 first chunk, so valid for any receiver) and shared by
 * every subscriber, the GOP cache and late joiners. Encoded for stream id 1, which is what createStream
 * hands out first; a player on another stream id gets a copy with the id patched.
 */
import { encodeMessage } from "../protocol/chunk-writer.ts";
import { Csid, MessageType, type RtmpMessage } from "../protocol/message.ts";

export const ENCODED_STREAM_ID = 1;

export interface Encoded {
  readonly bytes: Uint8Array;
  readonly timestamp: number;
  readonly video: boolean;
  readonly keyframe: boolean;
}

function csidFor(type: number): number {
  return type === MessageType.Audio ? Csid.Audio : type === MessageType.Video ? Csid.Video : Csid.Data;
}

export function encode(type: number, timestamp: number, payload: Uint8Array, chunkSize: number, keyframe = false): Encoded {
  const message: RtmpMessage = { csid: csidFor(type), type, streamId: ENCODED_STREAM_ID, timestamp, payload };
  return { bytes: encodeMessage(message, chunkSize), timestamp, video: type === MessageType.Video, keyframe };
}

/** The same chunks for another message stream id: only the FMT0 header carries it (bytes 8-11, LE). */
export function withStreamId(bytes: Uint8Array, streamId: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(8, streamId, true);
  return copy;
}
