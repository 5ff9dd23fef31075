/**
 * H.265: the HEVCDecoderConfigurationRecord (hvcC) of a sequence header, and the SPS in its arrays for the
 * picture size (conformance window applied), bit depth and chroma format. The SPS reader is exported for the
 * test streams, which build an hvcC from an encoder's parameter sets.
 */
import { readU16 } from "../protocol/bytes.ts";
import { BitReader } from "./bit-reader.ts";
import type { VideoDetails } from "./codec-details.ts";
import { CHROMA_FORMAT_IDC, MAX_BIT_DEPTH, MAX_PICTURE_SIDE } from "./h264.ts";
import { unescapeRbsp } from "./rbsp.ts";

export const HEVC_NAL_SPS = 33;

/** What an SPS says, in the terms an hvcC needs. */
export interface HevcSps {
  /** The 12 bytes of general_profile_space … general_level_idc, as they appear in the SPS and in an hvcC. */
  generalProfile: Uint8Array;
  maxSubLayers: number;
  temporalIdNesting: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  width: number;
  height: number;
}

/** The hvcC header up to numOfArrays. */
const HVCC_HEADER = 23;

export function hevcConfigDetails(record: Uint8Array): VideoDetails {
  const details: VideoDetails = { codec: "H265" };
  if (record.length < HVCC_HEADER || record[0] !== 1) return details;
  Object.assign(details, profileAndLevel(record.subarray(1, 13)));
  details.chroma = CHROMA_FORMAT_IDC[record[16] & 0x03];
  details.bitDepth = 8 + (record[17] & 0x07);
  const nal = firstNal(record, HEVC_NAL_SPS);
  const sps = nal === null ? null : parseHevcSps(nal);
  if (sps === null) return details;
  return {
    ...details,
    width: sps.width,
    height: sps.height,
    bitDepth: sps.bitDepthLuma,
    chroma: CHROMA_FORMAT_IDC[sps.chromaFormatIdc],
  };
}

/** The first NAL unit of `type` in an hvcC's arrays, or null. */
function firstNal(record: Uint8Array, type: number): Uint8Array | null {
  const arrays = record[22];
  let at = HVCC_HEADER;
  for (let i = 0; i < arrays && at + 3 <= record.length; i++) {
    const arrayType = record[at] & 0x3f;
    const count = readU16(record, at + 1);
    at += 3;
    for (let j = 0; j < count && at + 2 <= record.length; j++) {
      const length = readU16(record, at);
      at += 2;
      if (at + length > record.length) return null;
      if (arrayType === type) return record.subarray(at, at + length);
      at += length;
    }
  }
  return null;
}

/** A sequence parameter set NAL unit (with its 2-byte header), or null if it is not one we can read. */
export function parseHevcSps(nal: Uint8Array): HevcSps | null {
  if (nal.length < 16 || ((nal[0] >> 1) & 0x3f) !== HEVC_NAL_SPS) return null;
  const rbsp = unescapeRbsp(nal.subarray(2));
  const r = new BitReader(rbsp);
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayers = r.bits(3) + 1;
  const temporalIdNesting = r.bit();
  const generalProfile = rbsp.slice(1, 13);
  r.skip(96);
  skipSubLayers(r, maxSubLayers - 1);
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormatIdc = r.ue();
  const separateColourPlane = chromaFormatIdc === 3 ? r.bit() : 0;
  let width = r.ue();
  let height = r.ue();
  if (r.bit() === 1) {
    // Conformance window offsets count in chroma samples.
    const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
    const unitX = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const unitY = chromaArrayType === 1 ? 2 : 1;
    width -= unitX * (r.ue() + r.ue());
    height -= unitY * (r.ue() + r.ue());
  }
  const bitDepthLuma = 8 + r.ue();
  const bitDepthChroma = 8 + r.ue();
  if (r.failed || chromaFormatIdc > 3 || bitDepthLuma > MAX_BIT_DEPTH || bitDepthChroma > MAX_BIT_DEPTH) return null;
  if (width <= 0 || height <= 0 || width > MAX_PICTURE_SIDE || height > MAX_PICTURE_SIDE) return null;
  return {
    generalProfile,
    maxSubLayers,
    temporalIdNesting,
    chromaFormatIdc,
    bitDepthLuma,
    bitDepthChroma,
    width,
    height,
  };
}

/** The sub-layer part of profile_tier_level(): presence flags, alignment bits, then each present block. */
function skipSubLayers(r: BitReader, count: number): void {
  const present: number[] = [];
  for (let i = 0; i < count; i++) present.push(r.bits(2));
  if (count > 0) r.skip(2 * (8 - count));
  for (const flags of present) {
    if ((flags & 2) !== 0) r.skip(88); // sub_layer profile
    if ((flags & 1) !== 0) r.skip(8); // sub_layer_level_idc
  }
}

/** Profile from general_profile_idc (or, when that is 0, the first compatibility flag set); level = idc / 30. */
function profileAndLevel(general: Uint8Array): Pick<VideoDetails, "profile" | "level"> {
  const out: Pick<VideoDetails, "profile" | "level"> = {};
  let idc = general[0] & 0x1f;
  for (let j = 1; idc === 0 && j < PROFILES.length; j++) {
    if ((general[1 + (j >> 3)] & (0x80 >> (j & 7))) !== 0) idc = j;
  }
  if (PROFILES[idc] !== undefined) out.profile = PROFILES[idc];
  const levelIdc = general[11];
  if (levelIdc > 0) out.level = (levelIdc / 30).toFixed(1);
  return out;
}

const PROFILES = [
  undefined,
  "Main",
  "Main 10",
  "Main Still Picture",
  "RExt",
  "High Throughput",
  "Multiview Main",
  "Scalable Main",
  "3D Main",
  "Screen Extended",
  "Scalable RExt",
  "High Throughput Screen Extended",
];
