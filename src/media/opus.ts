/**
 * Opus: the sequence header is the Opus ID header, either as RFC 7845 writes it ("OpusHead", little-endian;
 * what FFmpeg sends) or as the MP4 dOps box holds it (no magic, big-endian). Both give the channel count and
 * the input sample rate; Opus itself always decodes at 48 kHz, which is what we report when the rate is 0.
 */
import { readU32, readU32LE } from "../protocol/bytes.ts";
import type { AudioDetails } from "./codec-details.ts";

const MAGIC = [0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64]; // "OpusHead"
/** OpusHead: magic (8), version, channels, pre-skip, input rate, gain, mapping family; dOps: the same, no magic. */
export const OPUS_HEAD_SIZE = 19;
export const DOPS_SIZE = 11;
export const OPUS_RATE = 48_000;

/** The header as RFC 7845 writes it (it starts with "OpusHead"), rather than as a dOps body. */
export function isOpusHead(header: Uint8Array): boolean {
  return MAGIC.every((byte, i) => header[i] === byte);
}

export function opusConfigDetails(header: Uint8Array): AudioDetails {
  const details: AudioDetails = { codec: "Opus" };
  let channels: number;
  let inputRate: number;
  if (isOpusHead(header)) {
    if (header.length < OPUS_HEAD_SIZE) return details;
    // magic, version, channels, pre-skip (16), input sample rate (32 LE), ...
    channels = header[9];
    inputRate = readU32LE(header, 12);
  } else {
    if (header.length < DOPS_SIZE || header[0] !== 0) return details;
    // version 0, channels, pre-skip (16), input sample rate (32 BE), ...
    channels = header[1];
    inputRate = readU32(header, 4);
  }
  if (channels === 0) return details;
  return { ...details, sampleRate: inputRate > 0 ? inputRate : OPUS_RATE, channels };
}
