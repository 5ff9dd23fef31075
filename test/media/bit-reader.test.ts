import { describe, expect, it } from "bun:test";
import { BitReader } from "../../src/media/bit-reader.ts";
import { unescapeRbsp } from "../../src/media/rbsp.ts";
import { hex, toHex } from "../helpers/hex.ts";

describe("BitReader", () => {
  it("reads fixed-width fields MSB first, across byte boundaries, up to 32 bits", () => {
    const r = new BitReader(hex("a5 0f ff ff ff ff"));
    expect(r.bit()).toBe(1);
    expect(r.bits(3)).toBe(0b010);
    expect(r.bits(8)).toBe(0x50);
    expect(r.bits(4)).toBe(0xf);
    expect(r.bits(32)).toBe(0xffffffff);
    expect(r.left).toBe(0);
    expect(r.failed).toBe(false);
  });

  it("reads Exp-Golomb codes: ue 0..4 and se 0, 1, -1, 2, -2", () => {
    // 1 | 010 | 011 | 00100 | 00101 → ue 0, 1, 2, 3, 4; then the same codes again as se.
    const r = new BitReader(hex("a6 42 d3 21 40"));
    expect([r.ue(), r.ue(), r.ue(), r.ue(), r.ue()]).toEqual([0, 1, 2, 3, 4]);
    expect([r.se(), r.se(), r.se(), r.se(), r.se()]).toEqual([0, 1, -1, 2, -2]);
    expect(r.failed).toBe(false);
  });

  it("reads the largest 32-bit ue and an AV1 uvlc", () => {
    // 31 zeros, a 1, then 31 ones: 2^31 - 1 + 2^31 - 1.
    expect(new BitReader(hex("00000001 ffffffff")).ue()).toBe(2 ** 32 - 2);
    // uvlc: 2 zeros, 1, then 2 bits 11 → 3 + 3.
    expect(new BitReader(hex("3c")).uvlc()).toBe(6);
  });

  it("gives zeros and sets failed past the end, and on a ue of more than 31 leading zeros", () => {
    const r = new BitReader(hex("ff"));
    expect(r.bits(12)).toBe(0xff0);
    expect(r.failed).toBe(true);
    const long = new BitReader(hex("00000000 80"));
    expect(long.ue()).toBe(0);
    expect(long.failed).toBe(true);
    const skipped = new BitReader(hex("ff"));
    skipped.skip(9);
    expect(skipped.failed).toBe(true);
    expect(skipped.left).toBe(0);
  });

  it("aligns to the next byte boundary", () => {
    const r = new BitReader(hex("80 7f"));
    r.bit();
    r.alignToByte();
    expect(r.bits(8)).toBe(0x7f);
    r.alignToByte();
    expect(r.failed).toBe(false);
  });
});

describe("unescapeRbsp", () => {
  const cases: [string, string, string][] = [
    ["drops the 03 after two zeros", "00 00 03 01", "000001"],
    ["keeps a 03 that is data after the escape", "00 00 03 03", "000003"],
    ["handles back-to-back escapes", "00 00 03 00 00 03 00", "0000000000"],
    ["leaves a lone 03 alone", "01 03 00 03", "01030003"],
    ["counts zeros again after an escape", "00 00 03 00 03", "00000003"],
  ];
  for (const [what, input, output] of cases) {
    it(what, () => {
      expect(toHex(unescapeRbsp(hex(input)))).toBe(output);
    });
  }
});
