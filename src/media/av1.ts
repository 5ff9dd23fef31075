/**
 * AV1: the AV1CodecConfigurationRecord (av1C) of a sequence header and the sequence header OBU in its
 * configOBUs, which holds the maximum frame size. OBU walking and the sequence header reader are exported for
 * the test streams, which build an av1C from an encoder's output.
 */
import { BitReader } from "./bit-reader.ts";
import type { VideoDetails } from "./codec-details.ts";
import { MAX_PICTURE_SIDE } from "./h264.ts";

export const OBU_SEQUENCE_HEADER = 1;
export const OBU_TEMPORAL_DELIMITER = 2;

export interface Obu {
  type: number;
  /** The whole OBU, header included. */
  bytes: Uint8Array;
  payload: Uint8Array;
}

export interface Av1SequenceHeader {
  profile: number;
  levelIdx: number;
  tier: number;
  maxWidth: number;
  maxHeight: number;
  bitDepth: number;
  monochrome: number;
  subsamplingX: number;
  subsamplingY: number;
  chromaSamplePosition: number;
}

const PROFILES = ["Main", "High", "Professional"];

export function av1ConfigDetails(record: Uint8Array): VideoDetails {
  const details: VideoDetails = { codec: "AV1" };
  // marker (1) and version (1), then seq_profile | seq_level_idx_0, then tier and colour bits.
  if (record.length < 4 || record[0] !== 0x81) return details;
  const profile = PROFILES[record[1] >> 5];
  if (profile !== undefined) details.profile = profile;
  const level = levelName(record[1] & 0x1f);
  if (level !== undefined) details.level = level;
  const flags = record[2];
  details.bitDepth = (flags & 0x20) !== 0 ? 12 : (flags & 0x40) !== 0 ? 10 : 8;
  details.chroma = chromaName((flags >> 4) & 1, (flags >> 3) & 1, (flags >> 2) & 1);
  const header = firstSequenceHeader(record.subarray(4));
  if (header !== null) Object.assign(details, { width: header.maxWidth, height: header.maxHeight });
  return details;
}

/** The first sequence header OBU among `bytes` (configOBUs, or a temporal unit), read; null if none can be. */
export function firstSequenceHeader(bytes: Uint8Array): Av1SequenceHeader | null {
  for (const obu of obus(bytes)) {
    if (obu.type === OBU_SEQUENCE_HEADER) return parseAv1SequenceHeader(obu.payload);
  }
  return null;
}

/** The OBUs of a low-overhead bitstream, in order, stopping at the first that does not fit. */
export function* obus(bytes: Uint8Array): Generator<Obu> {
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const header = bytes[at++];
    if ((header & 0x80) !== 0) return; // obu_forbidden_bit
    if ((header & 0x04) !== 0) at += 1; // obu_extension_flag: one more header byte
    let size = bytes.length - at;
    if ((header & 0x02) !== 0) {
      const leb = readLeb128(bytes, at);
      if (leb === null) return;
      size = leb.value;
      at = leb.end;
    }
    if (at + size > bytes.length) return;
    const type = (header >> 3) & 0x0f;
    yield { type, bytes: bytes.subarray(start, at + size), payload: bytes.subarray(at, at + size) };
    at += size;
  }
}

function readLeb128(bytes: Uint8Array, from: number): { value: number; end: number } | null {
  let value = 0;
  for (let i = 0; i < 8 && from + i < bytes.length; i++) {
    const byte = bytes[from + i];
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { value, end: from + i + 1 };
  }
  return null;
}

/** sequence_header_obu() up to and including color_config() (AV1 spec 5.5), or null if it cannot be read. */
export function parseAv1SequenceHeader(payload: Uint8Array): Av1SequenceHeader | null {
  const r = new BitReader(payload);
  const profile = r.bits(3);
  r.bit(); // still_picture
  const reduced = r.bit();
  let levelIdx = 0;
  let tier = 0;
  if (reduced === 1) {
    levelIdx = r.bits(5);
  } else {
    const op = readOperatingPoints(r);
    levelIdx = op.levelIdx;
    tier = op.tier;
  }
  const widthBits = r.bits(4) + 1;
  const heightBits = r.bits(4) + 1;
  const maxWidth = r.bits(widthBits) + 1;
  const maxHeight = r.bits(heightBits) + 1;
  skipCodingTools(r, reduced);
  const color = readColorConfig(r, profile);
  if (r.failed || profile > 2 || maxWidth > MAX_PICTURE_SIDE || maxHeight > MAX_PICTURE_SIDE) return null;
  return { profile, levelIdx, tier, maxWidth, maxHeight, ...color };
}

/** timing_info, decoder_model_info and the operating points; returns the first operating point's level. */
function readOperatingPoints(r: BitReader): { levelIdx: number; tier: number } {
  let bufferDelayBits = 0;
  let decoderModel = 0;
  if (r.bit() === 1) {
    // timing_info(): num_units_in_display_tick, time_scale, equal_picture_interval
    r.skip(64);
    if (r.bit() === 1) r.uvlc();
    decoderModel = r.bit();
    if (decoderModel === 1) {
      bufferDelayBits = r.bits(5) + 1;
      r.skip(32 + 5 + 5); // num_units_in_decoding_tick, two length fields
    }
  }
  const initialDisplayDelay = r.bit();
  const count = r.bits(5) + 1;
  let first = { levelIdx: 0, tier: 0 };
  for (let i = 0; i < count && !r.failed; i++) {
    r.skip(12); // operating_point_idc
    const levelIdx = r.bits(5);
    const tier = levelIdx > 7 ? r.bit() : 0;
    if (decoderModel === 1 && r.bit() === 1) r.skip(2 * bufferDelayBits + 1);
    if (initialDisplayDelay === 1 && r.bit() === 1) r.skip(4);
    if (i === 0) first = { levelIdx, tier };
  }
  return first;
}

/** From frame_id_numbers_present_flag to enable_restoration: flags whose values we do not need. */
function skipCodingTools(r: BitReader, reduced: number): void {
  if (reduced === 0 && r.bit() === 1) r.skip(4 + 3); // frame id lengths
  r.skip(3); // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
  if (reduced === 0) {
    r.skip(4); // interintra, masked compound, warped motion, dual filter
    const orderHint = r.bit();
    if (orderHint === 1) r.skip(2); // enable_jnt_comp, enable_ref_frame_mvs
    const forceScreenContent = r.bit() === 1 ? 2 : r.bit(); // seq_choose_screen_content_tools
    if (forceScreenContent > 0 && r.bit() === 0) r.bit(); // seq_choose_integer_mv, seq_force_integer_mv
    if (orderHint === 1) r.skip(3); // order_hint_bits_minus_1
  }
  r.skip(3); // enable_superres, enable_cdef, enable_restoration
}

/** color_config(): bit depth and chroma subsampling. */
type ColorConfig = Pick<
  Av1SequenceHeader,
  "bitDepth" | "monochrome" | "subsamplingX" | "subsamplingY" | "chromaSamplePosition"
>;

function readColorConfig(r: BitReader, profile: number): ColorConfig {
  const high = r.bit();
  const bitDepth = profile === 2 && high === 1 ? (r.bit() === 1 ? 12 : 10) : high === 1 ? 10 : 8;
  const monochrome = profile === 1 ? 0 : r.bit();
  let [primaries, transfer, matrix] = [2, 2, 2];
  if (r.bit() === 1) [primaries, transfer, matrix] = [r.bits(8), r.bits(8), r.bits(8)];
  let subsamplingX = 1;
  let subsamplingY = 1;
  let chromaSamplePosition = 0;
  if (monochrome === 1) {
    r.bit(); // color_range
  } else if (primaries === 1 && transfer === 13 && matrix === 0) {
    // sRGB: 4:4:4, full range, nothing more coded.
    [subsamplingX, subsamplingY] = [0, 0];
  } else {
    r.bit(); // color_range
    if (profile === 1) [subsamplingX, subsamplingY] = [0, 0];
    else if (profile === 2 && bitDepth === 12) {
      subsamplingX = r.bit();
      subsamplingY = subsamplingX === 1 ? r.bit() : 0;
    } else if (profile === 2) [subsamplingX, subsamplingY] = [1, 0];
    if (subsamplingX === 1 && subsamplingY === 1) chromaSamplePosition = r.bits(2);
  }
  return { bitDepth, monochrome, subsamplingX, subsamplingY, chromaSamplePosition };
}

/** seq_level_idx → "2.0" … "7.3"; 31 (no level restriction) and reserved values give undefined. */
function levelName(idx: number): string | undefined {
  return idx < 24 ? `${2 + (idx >> 2)}.${idx & 3}` : undefined;
}

export function chromaName(monochrome: number, subsamplingX: number, subsamplingY: number): string {
  if (monochrome === 1) return "4:0:0";
  if (subsamplingX === 1) return subsamplingY === 1 ? "4:2:0" : "4:2:2";
  return "4:4:4";
}
