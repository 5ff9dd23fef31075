import { describe, expect, it } from "bun:test";
import { readU16, readU24, readU32, readU32LE, sameBytes, writeU24, writeU32, writeU32LE } from "../../src/protocol/bytes.ts";
import { hex, toHex } from "../helpers/hex.ts";

/** Every value is read at offset 1 of its vector and written at offset 1 of a zeroed buffer of the same length. */
const cases: { what: string; bytes: string; value: number; read: (p: Uint8Array, at: number) => number; write?: (p: Uint8Array, at: number, n: number) => void }[] = [
  { what: "U16", bytes: "EE 1234 EE", value: 0x1234, read: readU16 },
  { what: "U16 with the high bit set", bytes: "00 FFFE 00", value: 0xfffe, read: readU16 },
  { what: "U24", bytes: "EE 123456 EE", value: 0x123456, read: readU24, write: writeU24 },
  { what: "U24 all ones (the extended timestamp mark)", bytes: "00 FFFFFF 00", value: 0xffffff, read: readU24, write: writeU24 },
  { what: "U32", bytes: "EE 12345678 EE", value: 0x12345678, read: readU32, write: writeU32 },
  { what: "U32 above 2^31, unsigned", bytes: "00 FFFFFFFE 00", value: 0xfffffffe, read: readU32, write: writeU32 },
  { what: "U32 little-endian", bytes: "EE 78563412 EE", value: 0x12345678, read: readU32LE, write: writeU32LE },
  { what: "U32 little-endian above 2^31, unsigned", bytes: "00 FEFFFFFF 00", value: 0xfffffffe, read: readU32LE, write: writeU32LE },
];

describe("byte helpers", () => {
  for (const { what, bytes, value, read, write } of cases) {
    it(`reads ${what}${write ? " and writes it back" : ""}`, () => {
      const p = hex(bytes);
      expect(read(p, 1)).toBe(value);
      if (write === undefined) return;
      const out = new Uint8Array(p.length);
      out[0] = p[0];
      out[p.length - 1] = p[p.length - 1];
      write(out, 1, value);
      expect(toHex(out)).toBe(toHex(p));
    });
  }

  it("writes only the low bits of a larger number", () => {
    const out = new Uint8Array(3);
    writeU24(out, 0, 0x01abcdef);
    expect(toHex(out)).toBe("abcdef");
  });
});

describe("sameBytes", () => {
  it("is true only for equal lengths and equal bytes, whatever the buffers behind the views", () => {
    const big = hex("00 17 00 0000 01 FF");
    expect(sameBytes(big.subarray(1, 4), hex("17 00 00"))).toBe(true);
    expect(sameBytes(hex(""), hex(""))).toBe(true);
    expect(sameBytes(hex("17 00 00"), hex("17 00 01"))).toBe(false);
    expect(sameBytes(hex("17 00"), hex("17 00 00"))).toBe(false);
  });
});
