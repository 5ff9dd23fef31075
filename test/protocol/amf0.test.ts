import { describe, expect, it } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Amf0Reader, EcmaArray, TypedObject, decodeAmf0, encodeAmf0 } from "../../src/protocol/amf0.ts";
import type { Amf0Object, Amf0Value } from "../../src/protocol/amf0.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { hex, toHex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

const ONE = "3FF0000000000000";

/** Calls fn and returns the ProtocolError it throws; fails the test if it returns or throws anything else. */
function protocolErrorFrom(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error("expected a ProtocolError, but nothing was thrown");
}

describe("AMF0 byte vectors, both directions", () => {
  const vectors: { name: string; bytes: string; value: Amf0Value }[] = [
    { name: "number 0 (golden amf0_number_0)", bytes: "00 0000000000000000", value: 0 },
    { name: "number 1.5 (golden amf0_number_1_5)", bytes: "00 3FF8000000000000", value: 1.5 },
    { name: "negative zero", bytes: "00 8000000000000000", value: -0 },
    { name: "boolean true (golden amf0_boolean_true)", bytes: "01 01", value: true },
    { name: "boolean false (golden amf0_boolean_false)", bytes: "01 00", value: false },
    { name: "null (golden amf0_null)", bytes: "05", value: null },
    { name: "undefined", bytes: "06", value: undefined },
    { name: "string (golden amf0_string_test)", bytes: '02 0004 "test"', value: "test" },
    { name: "empty string (golden amf0_string_empty)", bytes: "02 0000", value: "" },
    { name: "multi-byte UTF-8 string", bytes: "02 0006 C3A9 F09F8EA5", value: "é🎥" },
    {
      name: "object (golden amf0_object_simple)",
      bytes: '03 0003 "key" 02 0005 "value" 00 00 09',
      value: { key: "value" },
    },
    {
      name: "nested object (golden amf0_object_nested)",
      bytes: `03 0001 "a" 03 0001 "b" 00 ${ONE} 000009 000009`,
      value: { a: { b: 1 } },
    },
    { name: "empty object", bytes: "03 000009", value: {} },
    {
      name: "object keys in insertion order, not sorted",
      bytes: '03 0001 "z" 05 0001 "a" 06 000009',
      value: { z: null, a: undefined },
    },
    {
      name: "strict array (golden amf0_array_strict)",
      bytes: `0A 00000003 00 ${ONE} 00 4000000000000000 00 4008000000000000`,
      value: [1, 2, 3],
    },
    { name: "empty strict array", bytes: "0A 00000000", value: [] },
    {
      name: "ECMA array with its key count",
      bytes: '08 00000002 0008 "duration" 00 0000000000000000 0006 "stereo" 01 01 000009',
      value: new EcmaArray({ duration: 0, stereo: true }),
    },
    {
      name: "date with timezone 0",
      bytes: "0B 4278BCFE56800000 0000",
      value: new Date(1.7e12),
    },
    {
      name: "typed object",
      bytes: `10 0005 "Point" 0001 "x" 00 ${ONE} 000009`,
      value: new TypedObject("Point", { x: 1 }),
    },
  ];

  for (const { name, bytes, value } of vectors) {
    it(`decodes and re-encodes ${name}`, () => {
      expect(decodeAmf0(hex(bytes))).toStrictEqual([value]);
      expect(toHex(encodeAmf0([value]))).toBe(toHex(hex(bytes)));
    });
  }

  it("encodes values back to back and decodes them until the input runs out", () => {
    const bytes = hex(`02 0003 "foo" 00 ${ONE} 05 01 01`);
    expect(toHex(encodeAmf0(["foo", 1, null, true]))).toBe(toHex(bytes));
    expect(decodeAmf0(bytes)).toStrictEqual(["foo", 1, null, true]);
    expect(decodeAmf0(new Uint8Array(0))).toStrictEqual([]);
  });

  it("switches to a long string (0x0C) only when the UTF-8 form exceeds 65535 bytes", () => {
    const atLimit = "a".repeat(0xffff);
    const encodedAtLimit = encodeAmf0([atLimit]);
    expect(toHex(encodedAtLimit.subarray(0, 3))).toBe("02ffff");
    expect(encodedAtLimit.length).toBe(3 + 0xffff);

    const long = "é".repeat(40000); // 40,000 code units but 80,000 UTF-8 bytes
    const encodedLong = encodeAmf0([long]);
    expect(toHex(encodedLong.subarray(0, 5))).toBe("0c00013880");
    expect(encodedLong.length).toBe(5 + 80000);
    expect(decodeAmf0(encodedLong)).toStrictEqual([long]);

    const mid = "é".repeat(30000); // 60,000 bytes: above the quick bound, still a short string
    const encodedMid = encodeAmf0([mid]);
    expect(toHex(encodedMid.subarray(0, 3))).toBe("02ea60");
    expect(decodeAmf0(encodedMid)).toStrictEqual([mid]);
  });

  it("decodes a long string marker even when the string is short", () => {
    expect(decodeAmf0(hex('0C 00000003 "abc"'))).toStrictEqual(["abc"]);
  });

  it("treats any non-zero boolean byte as true", () => {
    expect(decodeAmf0(hex("01 02 01 FF"))).toStrictEqual([true, true]);
  });

  it("ignores a date's timezone", () => {
    expect(decodeAmf0(hex("0B 4278BCFE56800000 FF88"))).toStrictEqual([new Date(1.7e12)]);
  });

  it("reads ECMA arrays to their end marker whatever count they declare", () => {
    const zeroCount = '08 00000000 0001 "a" 00 3FF0000000000000 000009';
    const hugeCount = '08 FFFFFFFF 0001 "a" 00 3FF0000000000000 000009';
    expect(decodeAmf0(hex(zeroCount))).toStrictEqual([new EcmaArray({ a: 1 })]);
    expect(decodeAmf0(hex(hugeCount))).toStrictEqual([new EcmaArray({ a: 1 })]);
  });

  it("lets the last of duplicate keys win", () => {
    expect(decodeAmf0(hex(`03 0001 "a" 05 0001 "a" 00 ${ONE} 000009`))).toStrictEqual([{ a: 1 }]);
  });

  it("keeps a peer's __proto__ key as data instead of changing the object's prototype", () => {
    const [obj] = decodeAmf0(hex('03 0009 "__proto__" 03 0001 "x" 01 01 000009 000009')) as [Amf0Object];
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
    expect(Object.keys(obj)).toEqual(["__proto__"]);
    expect((obj as { x?: unknown }).x).toBeUndefined();
  });

  it("resolves a reference to the same JS value as the complex value it indexes", () => {
    // Index 0 is the outer strict array (registered before its elements), index 1 the object.
    const [arr] = decodeAmf0(hex(`0A 00000002 03 0001 "a" 00 ${ONE} 000009 07 0001`)) as [Amf0Value[]];
    expect(arr[0]).toEqual({ a: 1 });
    expect(arr[1]).toBe(arr[0]);
  });

  it("shares the reference table across values decoded by one reader", () => {
    const reader = new Amf0Reader(hex("03 000009 07 0000"));
    const first = reader.readValue();
    expect(reader.offset).toBe(4);
    expect(reader.remaining).toBe(3);
    expect(reader.readValue()).toBe(first);
    expect(reader.remaining).toBe(0);
  });

  it("throws a plain Error for keys AMF0 cannot carry", () => {
    expect(() => encodeAmf0([{ ["k".repeat(0x10000)]: 1 }])).toThrow(/exceeds 65535/);
    expect(() => encodeAmf0([{ "": 1 }])).toThrow(/empty object key/);
    expect(() => encodeAmf0([{ ["k".repeat(0xffff)]: 1 }])).not.toThrow();
  });
});

describe("AMF0 decoding of hostile input", () => {
  it("rejects a strict array whose count exceeds the remaining bytes before allocating (reference bug #1)", () => {
    // The reference calls this payload 14 bytes; the bytes it lists are 11.
    // The count check's rule: refused before an array of 4 billion entries was allocated.
    const payload = hex('02 0003 "foo" 0A FFFFFFF0');
    const err = protocolErrorFrom(() => decodeAmf0(payload));
    expect(err.rule).toBe("amf0.array-count");
  });

  it("rejects string, long string, key and class name lengths beyond the input", () => {
    for (const bytes of ["02 FFFF 616263", "0C FFFFFFFF 616263", "03 FFFF 61", "10 FFFF 61", "08 00000001 FFFF"]) {
      expect(protocolErrorFrom(() => decodeAmf0(hex(bytes))).rule).toBe("amf0.truncated");
    }
  });

  it("rejects truncation at every point inside a value", () => {
    const value = {
      app: "live",
      list: [1, "two", null],
      meta: new EcmaArray({ w: 1280 }),
      at: new Date(0),
      t: new TypedObject("T", {}),
    };
    const full = encodeAmf0([value]);
    for (let n = 1; n < full.length; n++) {
      const rule = protocolErrorFrom(() => decodeAmf0(full.subarray(0, n))).rule;
      // A cut inside the strict array leaves fewer bytes than its count, which is caught as a bad count.
      expect(["amf0.truncated", "amf0.array-count"]).toContain(rule);
    }
  });

  it("bounds nesting depth at 64 by default, and by the option when given", () => {
    const nested = (levels: number) => {
      const bytes = new Uint8Array(levels * 5 + 1);
      for (let i = 0; i < levels; i++) bytes.set([0x0a, 0, 0, 0, 1], i * 5);
      bytes[levels * 5] = 0x05;
      return bytes;
    };
    expect(() => decodeAmf0(nested(64))).not.toThrow();
    expect(protocolErrorFrom(() => decodeAmf0(nested(65))).rule).toBe("amf0.depth");
    expect(protocolErrorFrom(() => decodeAmf0(nested(100_000))).rule).toBe("amf0.depth");
    expect(() => decodeAmf0(nested(3), { maxDepth: 3 })).not.toThrow();
    expect(protocolErrorFrom(() => decodeAmf0(nested(4), { maxDepth: 3 })).rule).toBe("amf0.depth");
  });

  it("rejects a reference to an index not yet decoded", () => {
    expect(protocolErrorFrom(() => decodeAmf0(hex("07 0000"))).rule).toBe("amf0.reference");
    expect(protocolErrorFrom(() => decodeAmf0(hex("03 000009 07 0001"))).rule).toBe("amf0.reference");
  });

  it("rejects a reference from inside a complex value to itself, which would build a cycle", () => {
    expect(protocolErrorFrom(() => decodeAmf0(hex('03 0004 "self" 07 0000 000009'))).rule).toBe("amf0.reference-cycle");
  });

  it("rejects references that would repeat more bytes than were sent (exponential expansion)", () => {
    // Array k holds two references to array k-1: 40 arrays in 444 bytes would expand to 2^40 leaves.
    const parts = ["0A 00000001 05"];
    for (let k = 1; k <= 40; k++) {
      const ref = (k - 1).toString(16).padStart(4, "0");
      parts.push(`0A 00000002 07 ${ref} 07 ${ref}`);
    }
    // The expansion budget's rule: refused before the 2^40 leaves were built (which would never finish).
    expect(protocolErrorFrom(() => decodeAmf0(hex(parts.join(" ")))).rule).toBe("amf0.reference-expansion");
  });

  it("rejects the AVM+ marker that switches to AMF3 with a clear rule", () => {
    const err = protocolErrorFrom(() => decodeAmf0(hex("11 02")));
    expect(err.rule).toBe("amf0.amf3-switch");
    expect(err.message).toContain("AMF3");
  });

  it("rejects movie clip, stray object end, unsupported, record set, XML and unknown markers", () => {
    for (const marker of [0x04, 0x09, 0x0d, 0x0e, 0x0f, 0x12, 0xff]) {
      expect(protocolErrorFrom(() => decodeAmf0(Uint8Array.of(marker))).rule).toBe("amf0.marker");
    }
  });

  it("rejects an empty key that is not followed by the object end marker", () => {
    expect(protocolErrorFrom(() => decodeAmf0(hex("03 0000 05"))).rule).toBe("amf0.object-end");
  });

  it("replays every input in test/corpus/amf0-* without throwing anything but ProtocolError", () => {
    const dir = join(import.meta.dir, "..", "corpus");
    const files = readdirSync(dir).filter((f) => f.startsWith("amf0-"));
    expect(files).toContain("amf0-strict-array-huge-count.bin");
    for (const file of files) {
      const bytes = new Uint8Array(readFileSync(join(dir, file)));
      try {
        decodeAmf0(bytes);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw new Error(`${file}: ${err}`);
      }
    }
  });
});

describe("AMF0 properties over seeded random input", () => {
  const keys = ["app", "type", "flashVer", "tcUrl", "width", "ключ", "🎥", "a b", "constructor", "toString"];

  function randomString(rand: () => number): string {
    const alphabet = ["a", "Z", "0", " ", "é", "ж", "中", "🎥", "\u0000", "\uffff"];
    let s = "";
    const n = Math.floor(rand() * 12);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    return s;
  }

  function randomProps(rand: () => number, depth: number): Amf0Object {
    const obj: Amf0Object = {};
    const n = Math.floor(rand() * 5);
    for (let i = 0; i < n; i++) {
      const key = rand() < 0.5 ? keys[Math.floor(rand() * keys.length)] : randomString(rand) || "k";
      obj[key] = randomValue(rand, depth + 1);
    }
    return obj;
  }

  function randomValue(rand: () => number, depth = 0): Amf0Value {
    const kinds = depth >= 4 ? 6 : 10;
    switch (Math.floor(rand() * kinds)) {
      case 0: {
        const specials = [0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53];
        if (rand() < 0.3) return specials[Math.floor(rand() * specials.length)];
        return (rand() - 0.5) * 10 ** Math.floor(rand() * 20);
      }
      case 1:
        return rand() < 0.5;
      case 2:
        return randomString(rand);
      case 3:
        return rand() < 0.5 ? null : undefined;
      case 4:
        return new Date(Math.floor((rand() - 0.5) * 8.64e15));
      case 5:
        return rand() < 0.02 ? "x".repeat(70000) : randomString(rand);
      case 6:
        return randomProps(rand, depth);
      case 7:
        return Array.from({ length: Math.floor(rand() * 5) }, () => randomValue(rand, depth + 1));
      case 8:
        return new EcmaArray(randomProps(rand, depth));
      default:
        return new TypedObject(randomString(rand), randomProps(rand, depth));
    }
  }

  it("round-trips random nested values exactly", () => {
    const rand = mulberry32(0xa3f0);
    for (let i = 0; i < 2000; i++) {
      const values = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => randomValue(rand));
      const bytes = encodeAmf0(values);
      const decoded = decodeAmf0(bytes);
      expect(decoded).toStrictEqual(values);
      expect(toHex(encodeAmf0(decoded))).toBe(toHex(bytes));
    }
  });

  /** Decodes bytes; if that succeeds, re-encoding must be stable. Only ProtocolError may escape. */
  function check(bytes: Uint8Array): void {
    let values: Amf0Value[];
    try {
      values = decodeAmf0(bytes, { maxDepth: 8 });
    } catch (err) {
      if (err instanceof ProtocolError) return;
      throw new Error(`decoder threw ${err} on input ${toHex(bytes)}`);
    }
    // Compared as bytes because decoded garbage holds invalid Dates, which never compare equal as values.
    const encoded = encodeAmf0(values);
    expect(toHex(encodeAmf0(decodeAmf0(encoded)))).toBe(toHex(encoded));
  }

  it("never throws anything but ProtocolError on 20,000 random and mutated buffers", () => {
    const rand = mulberry32(0x5eed);
    const byte = () => {
      // Favour markers and small lengths so the decoder gets past the first byte most of the time.
      const r = rand();
      return r < 0.5 ? Math.floor(rand() * 0x13) : r < 0.75 ? 0 : Math.floor(rand() * 256);
    };
    for (let i = 0; i < 10_000; i++) {
      check(Uint8Array.from({ length: Math.floor(rand() * 48) }, byte));
    }
    for (let i = 0; i < 10_000; i++) {
      const valid = encodeAmf0([randomValue(rand)]);
      const mutated = valid.slice(0, 1 + Math.floor(rand() * valid.length));
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) {
        mutated[Math.floor(rand() * mutated.length)] ^= 1 << Math.floor(rand() * 8);
      }
      check(mutated);
    }
  });
});
