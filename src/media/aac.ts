/**
 * AAC: the AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) of a sequence header: object type (with the escape),
 * sampling frequency (index or explicit 24-bit value), channel configuration (or the program config element's
 * channels), and SBR/PS when signalled explicitly, hierarchically or by the backward-compatible sync extension.
 * Implicit SBR (a plain LC config whose stream happens to carry SBR) cannot be seen here and reads as "LC".
 */
import { BitReader } from "./bit-reader.ts";
import type { AudioDetails } from "./codec-details.ts";

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
/** channelConfiguration → channels; 0 means "see the program config element". */
const CHANNELS = [0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0];

const AOT_SBR = 5;
const AOT_PS = 29;
const AOT_ER_BSAC = 22;
const SYNC_SBR = 0x2b7;
const SYNC_PS = 0x548;

/** Object types whose config is a GASpecificConfig (and whose frames are what FLV carries in practice). */
const GA_TYPES = new Set([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23]);

const PROFILES: Record<number, string> = {
  1: "Main",
  2: "LC",
  3: "SSR",
  4: "LTP",
  17: "ER LC",
  23: "LD",
  39: "ELD",
  42: "xHE-AAC",
};

export function aacConfigDetails(asc: Uint8Array): AudioDetails {
  const details: AudioDetails = { codec: "AAC" };
  const r = new BitReader(asc);
  let objectType = readObjectType(r);
  let sampleRate = readSampleRate(r);
  const channelConfig = r.bits(4);
  let sbr = false;
  let ps = false;
  if (objectType === AOT_SBR || objectType === AOT_PS) {
    // Hierarchical signalling: the extension's rate, then the core object type.
    [sbr, ps] = [true, objectType === AOT_PS];
    sampleRate = readSampleRate(r);
    objectType = readObjectType(r);
    if (objectType === AOT_ER_BSAC) r.skip(4); // extensionChannelConfiguration
  }
  if (r.failed) return details;
  let channels = CHANNELS[channelConfig];
  if (GA_TYPES.has(objectType)) {
    const pceChannels = skipGaSpecificConfig(r, objectType, channelConfig);
    if (channelConfig === 0 && !r.failed) channels = pceChannels;
    if (!sbr && !r.failed && r.left >= 16 && r.bits(11) === SYNC_SBR && readObjectType(r) === AOT_SBR) {
      // Backward-compatible signalling (FFmpeg writes it, with the flag off, for plain LC).
      sbr = r.bit() === 1;
      if (sbr) {
        const rate = readSampleRate(r);
        if (!r.failed) sampleRate = rate;
        if (r.left >= 12 && r.bits(11) === SYNC_PS) ps = r.bit() === 1;
      }
    }
  }
  const profile = ps ? "HE-AACv2" : sbr ? "HE-AAC" : PROFILES[objectType];
  if (profile !== undefined) details.profile = profile;
  if (sampleRate > 0) details.sampleRate = sampleRate;
  // Parametric stereo turns a mono core into two output channels.
  if (channels > 0) details.channels = ps && channels === 1 ? 2 : channels;
  return details;
}

/** GetAudioObjectType(): 5 bits, 31 escapes to 32 + 6 more bits. */
function readObjectType(r: BitReader): number {
  const type = r.bits(5);
  return type === 31 ? 32 + r.bits(6) : type;
}

/** samplingFrequencyIndex, or 0xf and an explicit 24-bit frequency; 0 if reserved. */
function readSampleRate(r: BitReader): number {
  const index = r.bits(4);
  if (index === 0x0f) return r.bits(24);
  return SAMPLE_RATES[index] ?? 0;
}

/** GASpecificConfig(); returns the channels of its program config element (0 if it has none). */
function skipGaSpecificConfig(r: BitReader, objectType: number, channelConfig: number): number {
  r.bit(); // frameLengthFlag
  if (r.bit() === 1) r.skip(14); // dependsOnCoreCoder: coreCoderDelay
  const extension = r.bit();
  const channels = channelConfig === 0 ? programConfigChannels(r) : 0;
  if (objectType === 6 || objectType === 20) r.skip(3); // layerNr
  if (extension === 1) {
    if (objectType === AOT_ER_BSAC) r.skip(5 + 11); // numOfSubFrame, layer_length
    if ([17, 19, 20, 23].includes(objectType)) r.skip(3); // resilience flags
    r.bit(); // extensionFlag3
  }
  return channels;
}

/** program_config_element(): counts the channels of its elements and skips the rest. */
function programConfigChannels(r: BitReader): number {
  r.skip(4 + 2 + 4); // element_instance_tag, object_type, sampling_frequency_index
  const front = r.bits(4);
  const side = r.bits(4);
  const back = r.bits(4);
  const lfe = r.bits(2);
  const assocData = r.bits(3);
  const validCc = r.bits(4);
  if (r.bit() === 1) r.skip(4); // mono_mixdown_element_number
  if (r.bit() === 1) r.skip(4); // stereo_mixdown_element_number
  if (r.bit() === 1) r.skip(3); // matrix_mixdown_idx, pseudo_surround_enable
  let channels = lfe;
  for (let i = 0; i < front + side + back; i++) {
    channels += r.bit() === 1 ? 2 : 1; // is_cpe
    r.skip(4); // element tag
  }
  r.skip(4 * lfe + 4 * assocData + 5 * validCc);
  r.alignToByte();
  r.skip(8 * r.bits(8)); // comment_field_bytes
  return channels;
}
