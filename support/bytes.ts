/** Byte-building helpers for exact-vector tests and fMP4 fixtures (hex strings live in test/helpers/hex.ts). */

/** `count` bytes counting up from `start`, wrapping at 256 (the reference's golden payload pattern). */
export function ramp(start: number, count: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (start + i) & 0xff);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
