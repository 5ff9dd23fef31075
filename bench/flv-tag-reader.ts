/**
 * FLV tags out of a byte stream that arrives in arbitrary pieces, as an HTTP-FLV or WS-FLV player receives
 * it: the 13-byte file header is checked, then each complete tag is handed on as a view of the bytes it
 * arrived in; only a tag that straddles two pieces is copied.
 */
import { FLV_FILE_HEADER_SIZE, FLV_TAG_HEADER_SIZE } from "../src/media/flv.ts";

/** One FLV tag: the RTMP message it carries (the tag data is the RTMP payload, unchanged). */
export interface FlvTag {
  /** 8 audio, 9 video, 18 script data. */
  type: number;
  /** Milliseconds: the 24-bit field extended by the tag's upper byte. */
  timestamp: number;
  payload: Uint8Array;
}

const TRAILER_SIZE = 4;
const INITIAL_TAIL_BYTES = 256 * 1024;

export class FlvTagReader {
  /** The unfinished tag (or file header) carried over from the last piece. */
  private tail = new Uint8Array(INITIAL_TAIL_BYTES);
  private tailLength = 0;
  private headerChecked = false;

  constructor(private readonly onTag: (tag: FlvTag) => void) {}

  /** Throws on a stream that is not FLV; `bytes` may be kept as views by onTag's receiver. */
  push(bytes: Uint8Array): void {
    const data = this.tailLength === 0 ? bytes : this.joined(bytes);
    let at = 0;
    if (!this.headerChecked) {
      if (data.length < FLV_FILE_HEADER_SIZE) return this.keep(data, 0);
      if (data[0] !== 0x46 || data[1] !== 0x4c || data[2] !== 0x56) throw new Error("the response is not FLV");
      this.headerChecked = true;
      at = FLV_FILE_HEADER_SIZE;
    }
    while (data.length - at >= FLV_TAG_HEADER_SIZE) {
      const size = (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3];
      const end = at + FLV_TAG_HEADER_SIZE + size;
      if (end + TRAILER_SIZE > data.length) break;
      const timestamp = ((data[at + 7] << 24) | (data[at + 4] << 16) | (data[at + 5] << 8) | data[at + 6]) >>> 0;
      // The low 5 bits are the type; bit 5 is the encryption filter flag.
      this.onTag({ type: data[at] & 0x1f, timestamp, payload: data.subarray(at + FLV_TAG_HEADER_SIZE, end) });
      at = end + TRAILER_SIZE;
    }
    this.keep(data, at);
  }

  /**
   * The tail followed by `bytes`, in the tail's buffer. Bounded: a tail is less than one tag (a 24-bit size,
   * so under 16 MiB), and a piece is one socket read.
   */
  private joined(bytes: Uint8Array): Uint8Array {
    const length = this.tailLength + bytes.length;
    if (length > this.tail.length) {
      const grown = new Uint8Array(Math.max(2 * this.tail.length, length));
      grown.set(this.tail.subarray(0, this.tailLength));
      this.tail = grown;
    }
    this.tail.set(bytes, this.tailLength);
    this.tailLength = length;
    return this.tail.subarray(0, length);
  }

  /**
   * Copies data[from..] to the tail's start. The tags handed on from a joined piece were views of the tail,
   * so a receiver must be done with them by now (Player reads its stamps at once).
   */
  private keep(data: Uint8Array, from: number): void {
    const rest = data.length - from;
    if (rest > this.tail.length) this.tail = new Uint8Array(rest);
    // copyWithin when data is the tail itself: the source and destination may overlap.
    if (data.buffer === this.tail.buffer) this.tail.copyWithin(0, data.byteOffset + from, data.byteOffset + data.length);
    else this.tail.set(data.subarray(from));
    this.tailLength = rest;
  }
}
