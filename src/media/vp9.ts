/**
 * VP9: the start of a keyframe's uncompressed header (VP9 bitstream specification 6.2), which is where VP9
 * keeps its picture size: the vpcC record of a sequence header has none.
 */
import { BitReader } from "./bit-reader.ts";

export interface Vp9KeyframeHeader {
  profile: number;
  bitDepth: number;
  fullRange: number;
  width: number;
  height: number;
}

const FRAME_MARKER = 2;
const FRAME_SYNC_CODE = 0x498342;
const COLOR_SPACE_RGB = 7;

/** The header of a VP9 keyframe, or null if the frame is not a keyframe we can read. */
export function vp9KeyframeHeader(frame: Uint8Array): Vp9KeyframeHeader | null {
  const r = new BitReader(frame);
  if (r.bits(2) !== FRAME_MARKER) return null;
  const profile = r.bit() | (r.bit() << 1);
  if (profile === 3) r.bit(); // reserved_zero
  if (r.bit() === 1 || r.bit() !== 0) return null; // show_existing_frame, frame_type (0 = key)
  r.skip(2); // show_frame, error_resilient_mode
  if (r.bits(24) !== FRAME_SYNC_CODE) return null;
  const bitDepth = profile >= 2 ? (r.bit() === 1 ? 12 : 10) : 8;
  const colorSpace = r.bits(3);
  const fullRange = colorSpace === COLOR_SPACE_RGB ? 1 : r.bit();
  // Profiles 1 and 3 code subsampling_x/y (not for RGB, always 4:4:4) and a reserved bit.
  if (profile === 1 || profile === 3) r.skip(colorSpace === COLOR_SPACE_RGB ? 1 : 3);
  const width = r.bits(16) + 1;
  const height = r.bits(16) + 1;
  return r.failed ? null : { profile, bitDepth, fullRange, width, height };
}
