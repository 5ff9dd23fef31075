/**
 * FLV, as files and HTTP/WebSocket players take it: a 9-byte file header and PreviousTagSize0, then one tag
 * per message (11-byte tag header, the RTMP payload unchanged, PreviousTagSize). FlvLayout lays a shared
 * frame out as a tag while it is copied into a player's write buffer, as RtmpLayout does with chunks.
 */
import { writeU24, writeU32 } from "../protocol/bytes.ts";
import type { Frame, FrameLayout } from "./frame.ts";

export const FLV_TAG_HEADER_SIZE = 11;
/** The file header (9 bytes) plus PreviousTagSize0 (4). */
export const FLV_FILE_HEADER_SIZE = 13;

/** "FLV", version 1, the audio (4) and video (1) flags, header size 9, then PreviousTagSize0 = 0. */
export function flvFileHeader(audio: boolean, video: boolean): Uint8Array {
  return Uint8Array.of(0x46, 0x4c, 0x56, 1, (audio ? 4 : 0) | (video ? 1 : 0), 0, 0, 0, 9, 0, 0, 0, 0);
}

/** Tag type (8 audio, 9 video, 18 script data), data size, timestamp (24 bits + 8 high bits), stream id 0. */
export function writeTagHeader(dst: Uint8Array, at: number, type: number, size: number, timestamp: number): void {
  dst[at] = type;
  writeU24(dst, at + 1, size);
  writeU24(dst, at + 4, timestamp);
  dst[at + 7] = timestamp >>> 24;
  writeU24(dst, at + 8, 0);
}

/** Tag header and PreviousTagSize of the frame being laid out (one at a time: JS is single-threaded). */
const header = new Uint8Array(FLV_TAG_HEADER_SIZE);
const trailer = new Uint8Array(4);

/** A frame as one FLV tag at its own timestamp. */
export class FlvLayout implements FrameLayout {
  size(frame: Frame): number {
    return FLV_TAG_HEADER_SIZE + frame.payload.length + 4;
  }

  /** A tag is never laid out whole ahead of the copy: its header and trailer are made as it is copied. */
  laidOut(): null {
    return null;
  }

  copy(frame: Frame, dst: Uint8Array, at: number, from: number, max: number): number {
    const payload = frame.payload;
    const length = payload.length;
    const end = Math.min(FLV_TAG_HEADER_SIZE + length + 4, from + max);
    let pos = from;
    let out = at;
    if (pos < FLV_TAG_HEADER_SIZE) {
      writeTagHeader(header, 0, frame.type, length, frame.timestamp);
      const n = Math.min(FLV_TAG_HEADER_SIZE, end) - pos;
      dst.set(header.subarray(pos, pos + n), out);
      pos += n;
      out += n;
    }
    const bodyEnd = FLV_TAG_HEADER_SIZE + length;
    if (pos < end && pos < bodyEnd) {
      const offset = pos - FLV_TAG_HEADER_SIZE;
      const n = Math.min(bodyEnd, end) - pos;
      dst.set(n === length ? payload : payload.subarray(offset, offset + n), out);
      pos += n;
      out += n;
    }
    if (pos < end) {
      writeU32(trailer, 0, FLV_TAG_HEADER_SIZE + length);
      const offset = pos - bodyEnd;
      const n = end - pos;
      dst.set(trailer.subarray(offset, offset + n), out);
      out += n;
    }
    return out - at;
  }
}
