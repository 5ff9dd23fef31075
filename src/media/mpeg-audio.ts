/**
 * MP3 (MPEG-1/2/2.5 audio): the 4-byte frame header that starts every frame gives the real sample rate and
 * channel mode; the FLV audio flags cannot express 48 kHz or the MPEG-2 rates.
 */
import type { AudioDetails } from "./codec-details.ts";

/** MPEG-1 rates; MPEG-2 halves them, MPEG-2.5 quarters them. */
const RATES = [44100, 48000, 32000];
const VERSION_DIVISOR = [4, 0, 2, 1]; // version bits 00 = 2.5, 01 reserved, 10 = 2, 11 = 1
const MONO = 3;

/** Sample rate and channels from the frame header at the start of `frame`, or null if there is none. */
export function mpegAudioFrameDetails(frame: Uint8Array): AudioDetails | null {
  if (frame.length < 4 || frame[0] !== 0xff || (frame[1] & 0xe0) !== 0xe0) return null;
  const divisor = VERSION_DIVISOR[(frame[1] >> 3) & 0x03];
  const layer = (frame[1] >> 1) & 0x03;
  const rateIndex = (frame[2] >> 2) & 0x03;
  if (divisor === 0 || layer === 0 || rateIndex === 3 || frame[2] >> 4 === 0x0f) return null;
  return { codec: "MP3", sampleRate: RATES[rateIndex] / divisor, channels: frame[3] >> 6 === MONO ? 1 : 2 };
}
