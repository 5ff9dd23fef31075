/**
 * Byte helpers: unsigned integers read from and written to byte arrays, big-endian (network order) unless
 * named LE (RTMP's message stream id, Opus's header), and byte-for-byte equality. Plain index arithmetic: no
 * DataView to build over a view we were handed. Callers check bounds; reads past the end see undefined bytes as 0.
 */

export function readU16(p: Uint8Array, at: number): number {
  return (p[at] << 8) | p[at + 1];
}

export function readU24(p: Uint8Array, at: number): number {
  return (p[at] << 16) | (p[at + 1] << 8) | p[at + 2];
}

export function readU32(p: Uint8Array, at: number): number {
  return ((p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3]) >>> 0;
}

export function readU32LE(p: Uint8Array, at: number): number {
  return (p[at] | (p[at + 1] << 8) | (p[at + 2] << 16) | (p[at + 3] << 24)) >>> 0;
}

export function writeU24(p: Uint8Array, at: number, n: number): void {
  p[at] = n >>> 16;
  p[at + 1] = n >>> 8;
  p[at + 2] = n;
}

export function writeU32(p: Uint8Array, at: number, n: number): void {
  p[at] = n >>> 24;
  p[at + 1] = n >>> 16;
  p[at + 2] = n >>> 8;
  p[at + 3] = n;
}

export function writeU32LE(p: Uint8Array, at: number, n: number): void {
  p[at] = n;
  p[at + 1] = n >>> 8;
  p[at + 2] = n >>> 16;
  p[at + 3] = n >>> 24;
}

/** The same bytes (a sequence header sent again unchanged, say). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
