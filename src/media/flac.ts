/**
 * FLAC: the sequence header is the STREAMINFO metadata block, either after the "fLaC" signature and a block
 * header (as Enhanced RTMP describes it) or bare (FFmpeg's extradata, which is what FFmpeg sends).
 */
import type { AudioDetails } from "./codec-details.ts";

const MAGIC = [0x66, 0x4c, 0x61, 0x43]; // "fLaC"
const BLOCK_HEADER = 4;
const STREAMINFO = 0;
const STREAMINFO_SIZE = 34;

export function flacConfigDetails(header: Uint8Array): AudioDetails {
  const details: AudioDetails = { codec: "FLAC" };
  let at = 0;
  if (MAGIC.every((byte, i) => header[i] === byte)) {
    at = MAGIC.length + BLOCK_HEADER;
    if ((header[MAGIC.length] & 0x7f) !== STREAMINFO) return details;
  }
  if (header.length < at + STREAMINFO_SIZE) return details;
  // Block sizes (2 × 16 bits), frame sizes (2 × 24), then sample rate (20), channels - 1 (3), ...
  const sampleRate = (header[at + 10] << 12) | (header[at + 11] << 4) | (header[at + 12] >> 4);
  const channels = ((header[at + 12] >> 1) & 0x07) + 1;
  return sampleRate > 0 ? { ...details, sampleRate, channels } : details;
}
