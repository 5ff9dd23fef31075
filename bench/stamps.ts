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
