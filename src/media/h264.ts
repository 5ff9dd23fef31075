/**
 * H.264: the AVCDecoderConfigurationRecord of a sequence header, and the SPS inside it for the picture size
 * (frame cropping applied), bit depth and chroma format. Profile and level come from the record when the SPS
 * cannot be read.
 */
import { readU16 } from "../protocol/bytes.ts";
import { BitReader } from "./bit-reader.ts";
import type { VideoDetails } from "./codec-details.ts";
import { unescapeRbsp } from "./rbsp.ts";

/** chroma_format_idc, the same in H.264 and H.265. */
export const CHROMA_FORMAT_IDC = ["4:0:0", "4:2:0", "4:2:2", "4:4:4"];

/** Largest picture side we believe; anything beyond is a misparse. */
export const MAX_PICTURE_SIDE = 65_535;
/** Deepest sample the H.26x range extensions define. */
export const MAX_BIT_DEPTH = 16;

const NAL_SPS = 7;

/** Profiles whose SPS carries chroma format, bit depths and scaling matrices. */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** constraint_set flags, as the byte after profile_idc holds them. */
const CONSTRAINT_SET1 = 0x40;
const CONSTRAINT_SET3 = 0x10;

export function avcConfigDetails(record: Uint8Array): VideoDetails {
  const details: VideoDetails = { codec: "H264" };
  // configurationVersion 1, profile, constraint flags, level, lengthSizeMinusOne, numOfSequenceParameterSets,
  // then the first SPS behind its 16-bit length.
  if (record.length < 6 || record[0] !== 1) return details;
  Object.assign(details, profileAndLevel(record[1], record[2], record[3]));
  if ((record[5] & 0x1f) === 0 || record.length < 8) return details;
  const spsLength = readU16(record, 6);
  if (record.length < 8 + spsLength) return details;
  return { ...details, ...spsDetails(record.subarray(8, 8 + spsLength)) };
}

/** Everything a sequence parameter set NAL unit says about the picture, or null if it is not one we can read. */
function spsDetails(nal: Uint8Array): VideoDetails | null {
  if (nal.length < 4 || (nal[0] & 0x1f) !== NAL_SPS) return null;
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = r.bits(8);
  const constraints = r.bits(8);
  const levelIdc = r.bits(8);
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  let bitDepth = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.bit();
    bitDepth = 8 + r.ue();
    r.ue(); // bit_depth_chroma_minus8
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit() === 1) skipScalingLists(r, chromaFormatIdc === 3 ? 12 : 8);
  }
  r.ue(); // log2_max_frame_num_minus4
  if (!skipPictureOrderCount(r)) return null;
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1;
  const heightInMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (frameMbsOnly === 0) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  const crop = r.bit() === 1 ? [r.ue(), r.ue(), r.ue(), r.ue()] : [0, 0, 0, 0];
  if (r.failed || chromaFormatIdc > 3 || bitDepth > MAX_BIT_DEPTH) return null;

  // Crop offsets count in chroma samples (and, for field coding, in field rows): 7.4.2.1.1.
  const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
  const cropUnitX = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const cropUnitY = (chromaArrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
  const width = widthInMbs * 16 - cropUnitX * (crop[0] + crop[1]);
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (crop[2] + crop[3]);
  if (width <= 0 || height <= 0 || width > MAX_PICTURE_SIDE || height > MAX_PICTURE_SIDE) return null;
  return {
    codec: "H264",
    ...profileAndLevel(profileIdc, constraints, levelIdc),
    width,
    height,
    bitDepth,
    chroma: CHROMA_FORMAT_IDC[chromaFormatIdc],
  };
}

type ProfileAndLevel = Pick<VideoDetails, "profile" | "level">;

function profileAndLevel(profileIdc: number, constraints: number, levelIdc: number): ProfileAndLevel {
  const out: ProfileAndLevel = {};
  const profile = profileName(profileIdc, constraints);
  if (profile !== undefined) out.profile = profile;
  // Level 1b: its own idc (9), or idc 11 with constraint_set3 in the profiles that predate idc 9.
  const oldProfile = profileIdc === 66 || profileIdc === 77 || profileIdc === 88;
  const level1b = levelIdc === 9 || (levelIdc === 11 && (constraints & CONSTRAINT_SET3) !== 0 && oldProfile);
  if (level1b) out.level = "1b";
  else if (levelIdc > 0) out.level = (levelIdc / 10).toFixed(1);
  return out;
}

function profileName(profileIdc: number, constraints: number): string | undefined {
  const intra = (constraints & CONSTRAINT_SET3) !== 0;
  switch (profileIdc) {
    case 66:
      return (constraints & CONSTRAINT_SET1) !== 0 ? "Constrained Baseline" : "Baseline";
    case 110:
      return intra ? "High 10 Intra" : "High 10";
    case 122:
      return intra ? "High 4:2:2 Intra" : "High 4:2:2";
    case 244:
      return intra ? "High 4:4:4 Intra" : "High 4:4:4 Predictive";
    default:
      return PROFILES[profileIdc];
  }
}

const PROFILES: Record<number, string> = {
  77: "Main",
  88: "Extended",
  100: "High",
  44: "CAVLC 4:4:4 Intra",
  83: "Scalable Baseline",
  86: "Scalable High",
  118: "Multiview High",
  128: "Stereo High",
  134: "MFC High",
  138: "Multiview Depth High",
};

/** seq_scaling_list_present_flag[i] and, for each present list, its delta-coded entries (7.3.2.1.1.1). */
function skipScalingLists(r: BitReader, count: number): void {
  for (let i = 0; i < count && !r.failed; i++) {
    if (r.bit() === 0) continue;
    const size = i < 6 ? 16 : 64;
    let last = 8;
    let next = 8;
    for (let j = 0; j < size && !r.failed; j++) {
      if (next !== 0) next = (last + r.se() + 256) % 256;
      last = next === 0 ? last : next;
    }
  }
}

/** pic_order_cnt_type and what follows it; false if the cycle length is out of range. */
function skipPictureOrderCount(r: BitReader): boolean {
  const type = r.ue();
  if (type === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (type === 1) {
    r.bit(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    if (cycle > 255) return false;
    for (let i = 0; i < cycle && !r.failed; i++) r.se();
  }
  return !r.failed;
}
