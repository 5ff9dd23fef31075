/**
 * How a synthetic media payload carries its send time (float64 ms, wall clock) and sequence number (u32),
 * right after the 2-byte FLV codec header that servers read, so that players measure latency and loss exactly.
 */

const SENT_AT = 2;
const SEQUENCE = 10;
/** Shortest payload that has room for both stamps. */
const STAMPED_LENGTH = SEQUENCE + 4;

/** Wall-clock milliseconds with sub-millisecond precision, comparable between publisher and players. */
export const wallClock = (): number => performance.timeOrigin + performance.now();

export function stamp(payload: Uint8Array, sequence: number): void {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  view.setFloat64(SENT_AT, wallClock());
  view.setUint32(SEQUENCE, sequence);
}

/** The stamps of a received payload, or null if it is too short to carry them. */
export function readStamp(payload: Uint8Array): { sentAt: number; sequence: number } | null {
  if (payload.length < STAMPED_LENGTH) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { sentAt: view.getFloat64(SENT_AT), sequence: view.getUint32(SEQUENCE) };
}

/** Bytes of the FLV body header before the coded data: legacy AVC (with its composition time), AAC. */
const VIDEO_HEADER = 5;
const AUDIO_HEADER = 2;
/** Bits of a float64's mantissa. */
const MANTISSA_BITS = 52;

/**
 * The stamps of a synthetic frame as an fMP4 sample carries it: the FLV body without its header, so each stamp
 * sits that much earlier. An AAC sample holds both whole. An AVC sample has lost the first 3 bytes of the send
 * time (they were the FLV composition time): sign, exponent and the top 12 mantissa bits, which stay the same
 * for 2^28 ms (3 days) at a time, so they are taken from `now` (the receiver's wall clock, on the same
 * machine), and the result is the value of that form nearest to `now`.
 */
export function readSampleStamp(video: boolean, sample: Uint8Array, now: number): { sentAt: number; sequence: number } | null {
  const header = video ? VIDEO_HEADER : AUDIO_HEADER;
  if (sample.length < STAMPED_LENGTH - header) return null;
  const view = new DataView(sample.buffer, sample.byteOffset, sample.byteLength);
  const sequence = view.getUint32(SEQUENCE - header);
  if (!video) return { sentAt: view.getFloat64(SENT_AT - header), sequence };
  const lost = header - SENT_AT;
  const time = new DataView(new ArrayBuffer(8));
  time.setFloat64(0, now);
  for (let i = lost; i < 8; i++) time.setUint8(i, sample[i - lost]);
  const kept = 8 * (8 - lost);
  const period = 2 ** (Math.floor(Math.log2(now)) - MANTISSA_BITS + kept);
  const sentAt = time.getFloat64(0);
  return { sentAt: sentAt + period * Math.round((now - sentAt) / period), sequence };
}
