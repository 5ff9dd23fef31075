/** A minimal FLV file reader for tests and benchmarks: the 9-byte header, then tags with their 32-bit timestamps. */

export interface FlvTag {
  /** 8 audio, 9 video, 18 script data. */
  type: number;
  /** Milliseconds: the 24-bit field extended by the tag's upper byte. */
  timestamp: number;
  data: Uint8Array;
}

export function readFlvTags(file: Uint8Array): FlvTag[] {
  if (file.length < 13 || file[0] !== 0x46 || file[1] !== 0x4c || file[2] !== 0x56) {
    throw new Error("not an FLV file");
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  // The header says its own size; PreviousTagSize0 follows it.
  let at = view.getUint32(5) + 4;
  const tags: FlvTag[] = [];
  while (at + 11 <= file.length) {
    const size = (file[at + 1] << 16) | (file[at + 2] << 8) | file[at + 3];
    const timestamp = ((file[at + 7] << 24) | (file[at + 4] << 16) | (file[at + 5] << 8) | file[at + 6]) >>> 0;
    const end = at + 11 + size;
    if (end + 4 > file.length) throw new Error(`FLV tag at byte ${at} runs past the end of the file`);
    // The low 5 bits are the type; bit 5 is the encryption filter flag.
    tags.push({ type: file[at] & 0x1f, timestamp, data: file.subarray(at + 11, end) });
    at = end + 4;
  }
  return tags;
}
