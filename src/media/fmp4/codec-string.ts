/**
 * RFC 6381 codec strings (what HLS puts in CODECS= and MSE in addSourceBuffer), read from the configuration
 * records a track carries: ISO/IEC 14496-15 annex E for avc1/hvc1, the AV1 ISOBMFF binding, the codec
 * string of the VP codec ISOBMFF binding, RFC 6381 for mp4a, and "opus" as browsers and hls.js spell it.
 */
import { readU32 } from "../../protocol/bytes.ts";
import type { AudioCodec, VideoCodec } from "./track.ts";

/** `config` as TrackConfig holds it: avcC/hvcC/av1C/vpcC record, AudioSpecificConfig, dOps body. */
export function codecString(codec: VideoCodec | AudioCodec, config: Uint8Array): string {
  switch (codec) {
    case "avc1":
      // profile_idc, constraint flags, level_idc
      return `avc1.${hex(config[1])}${hex(config[2])}${hex(config[3])}`;
    case "hvc1":
      return hevcString(config);
    case "av01":
      return av1String(config);
    case "vp09":
      return vp9String(config);
    case "mp4a":
      return `mp4a.40.${audioObjectType(config)}`;
    case "Opus":
      return "opus";
  }
}

/** hvc1.[profile space]profile.compatibility(bit-reversed).tier+level.constraint bytes (trailing zeros left out). */
function hevcString(hvcc: Uint8Array): string {
  const space = ["", "A", "B", "C"][hvcc[1] >> 6];
  const tier = (hvcc[1] & 0x20) !== 0 ? "H" : "L";
  const profile = hvcc[1] & 0x1f;
  const flags = readU32(hvcc, 2);
  let reversed = 0;
  for (let i = 0; i < 32; i++) reversed = reversed * 2 + ((flags >>> i) & 1);
  const constraints = Array.from(hvcc.subarray(6, 12));
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const parts = [`hvc1`, `${space}${profile}`, reversed.toString(16).toUpperCase(), `${tier}${hvcc[12]}`];
  return [...parts, ...constraints.map((byte) => hex(byte).toUpperCase())].join(".");
}

/** av01.profile.level+tier.bit depth, the short form (the rest defaults to 4:2:0 BT.709 limited range). */
function av1String(av1c: Uint8Array): string {
  const profile = av1c[1] >> 5;
  const level = av1c[1] & 0x1f;
  const tier = (av1c[2] & 0x80) !== 0 ? "H" : "M";
  const bitDepth = (av1c[2] & 0x20) !== 0 ? 12 : (av1c[2] & 0x40) !== 0 ? 10 : 8;
  return `av01.${profile}.${decimal(level)}${tier}.${decimal(bitDepth)}`;
}

/** The optional fields' defaults (4:2:0 colocated, BT.709 primaries, transfer and matrix, limited range). */
const VP9_DEFAULT_SUFFIX = ".01.01.01.01.00";

/** vp09.profile.level.bit depth.chroma.primaries.transfer.matrix.full range, the defaults left off as a block. */
function vp9String(vpcc: Uint8Array): string {
  const [profile, level, bits, primaries, transfer, matrix] = vpcc;
  const fields = [profile, level, bits >> 4, (bits >> 1) & 0x07, primaries, transfer, matrix, bits & 0x01];
  const full = `vp09.${fields.map(decimal).join(".")}`;
  return full.endsWith(VP9_DEFAULT_SUFFIX) ? full.slice(0, -VP9_DEFAULT_SUFFIX.length) : full;
}

/** The AudioSpecificConfig's first audioObjectType (5 bits, 31 escaping to 32 + 6 more). */
function audioObjectType(asc: Uint8Array): number {
  const type = asc[0] >> 3;
  return type === 31 ? 32 + (((asc[0] & 0x07) << 3) | (asc[1] >> 5)) : type;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

function decimal(value: number): string {
  return String(value).padStart(2, "0");
}
