/**
 * VP8/VP9: the VPCodecConfigurationRecord (vpcC) of a sequence header: profile, level, bit depth and chroma
 * subsampling. The record has no picture size: VP8/VP9 carry it only in keyframe headers, so details of these
 * codecs have no width or height.
 */
import type { VideoDetails } from "./codec-details.ts";

/** Some muxers write the record with the MP4 FullBox prefix (version 1, flags 0) that belongs to the box. */
const FULLBOX_PREFIX = 4;

const CHROMA_SUBSAMPLING = ["4:2:0", "4:2:0", "4:2:2", "4:4:4"];

export function vpConfigDetails(record: Uint8Array, codec: string): VideoDetails {
  const details: VideoDetails = { codec };
  const at = fullBoxPrefixLength(record);
  if (record.length < at + 3) return details;
  const bitDepth = record[at + 2] >> 4;
  if (bitDepth !== 8 && bitDepth !== 10 && bitDepth !== 12) return details;
  details.profile = `Profile ${record[at]}`;
  const level = record[at + 1];
  if (level > 0) details.level = `${Math.floor(level / 10)}.${level % 10}`;
  details.bitDepth = bitDepth;
  const chroma = CHROMA_SUBSAMPLING[(record[at + 2] >> 1) & 0x07];
  if (chroma !== undefined) details.chroma = chroma;
  return details;
}

/** 4 when the record starts with the FullBox prefix, else 0. */
export function fullBoxPrefixLength(record: Uint8Array): number {
  // A real record's third byte starts with the bit depth (8, 10 or 12), never 0: so 01 00 00 00 is the prefix.
  return record[0] === 1 && record[1] === 0 && record[2] === 0 && record[3] === 0 ? FULLBOX_PREFIX : 0;
}
