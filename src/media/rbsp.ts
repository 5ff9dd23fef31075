/**
 * H.264/H.265 NAL units carry their payload with emulation-prevention bytes (00 00 03 → 00 00) so that no
 * start code appears inside; header parsers read the unescaped bytes (the RBSP).
 */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let length = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[length++] = byte;
  }
  return out.subarray(0, length);
}
