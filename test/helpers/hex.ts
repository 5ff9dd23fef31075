/**
 * Byte vectors written the way specs print them: hex digits with optional spaces, and ASCII text in double
 * quotes, e.g. hex('02 0007 "_result"').
 */
export function hex(spec: string): Uint8Array {
  const out: number[] = [];
  for (const [, text, digits] of spec.matchAll(/"([^"]*)"|([0-9a-fA-F]+)/g)) {
    if (text !== undefined) {
      for (const ch of text) out.push(ch.charCodeAt(0));
    } else {
      if (digits.length % 2 !== 0) throw new Error(`odd number of hex digits in "${digits}"`);
      for (let i = 0; i < digits.length; i += 2) out.push(parseInt(digits.slice(i, i + 2), 16));
    }
  }
  return Uint8Array.from(out);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
