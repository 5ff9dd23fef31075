/**
 * AC-3 and E-AC-3 have no sequence header worth the name: every syncframe says its sample rate and channel
 * layout. bsid tells the two syntaxes apart (≤ 10 AC-3, 11–16 E-AC-3), whichever FourCC the stream used.
 */
import { readU16 } from "../protocol/bytes.ts";
import { BitReader } from "./bit-reader.ts";
import type { AudioDetails } from "./codec-details.ts";

const SYNC_WORD = 0x0b77;
const RATES = [48000, 44100, 32000];
/** E-AC-3 with fscod 3: the reduced rates of fscod2. */
const REDUCED_RATES = [24000, 22050, 16000];
/** acmod → full-bandwidth channels. */
const ACMOD_CHANNELS = [2, 1, 2, 3, 3, 4, 4, 5];
const BSID_AC3_MAX = 10;
const BSID_EAC3_MAX = 16;

/** Sample rate and channels of the syncframe that starts `frame`, or only the codec name if there is none. */
export function ac3FrameDetails(frame: Uint8Array, codec: string): AudioDetails {
  const details: AudioDetails = { codec };
  if (frame.length < 7 || readU16(frame, 0) !== SYNC_WORD) return details;
  const bsid = frame[5] >> 3;
  const layout = bsid <= BSID_AC3_MAX ? ac3Layout(frame, bsid) : bsid <= BSID_EAC3_MAX ? eac3Layout(frame) : null;
  return layout === null ? details : { ...details, ...layout };
}

function ac3Layout(frame: Uint8Array, bsid: number): { sampleRate: number; channels: number } | null {
  const r = new BitReader(frame.subarray(4));
  const fscod = r.bits(2);
  r.skip(6 + 5 + 3); // frmsizecod, bsid, bsmod
  const acmod = r.bits(3);
  if ((acmod & 1) !== 0 && acmod !== 1) r.skip(2); // cmixlev
  if ((acmod & 4) !== 0) r.skip(2); // surmixlev
  if (acmod === 2) r.skip(2); // dsurmod
  const lfe = r.bit();
  if (r.failed || fscod === 3) return null;
  // bsid 9 and 10 are the half- and quarter-rate variants.
  return { sampleRate: RATES[fscod] >> Math.max(0, bsid - 8), channels: ACMOD_CHANNELS[acmod] + lfe };
}

function eac3Layout(frame: Uint8Array): { sampleRate: number; channels: number } | null {
  const r = new BitReader(frame.subarray(2));
  r.skip(2 + 3 + 11); // strmtyp, substreamid, frmsiz
  const fscod = r.bits(2);
  const next = r.bits(2); // fscod2 when fscod is 3, else numblkscod
  const sampleRate = fscod === 3 ? REDUCED_RATES[next] : RATES[fscod];
  const acmod = r.bits(3);
  const lfe = r.bit();
  if (r.failed || sampleRate === undefined) return null;
  return { sampleRate, channels: ACMOD_CHANNELS[acmod] + lfe };
}
