import { describe, expect, it } from "bun:test";
import { flvFileHeader, writeTagHeader } from "../../src/media/flv.ts";
import { writeU32 } from "../../src/protocol/bytes.ts";
import { concat, ramp } from "../../support/bytes.ts";
import { hex, toHex } from "../helpers/hex.ts";
import { type FlvTag, FlvTagReader } from "../../bench/flv-tag-reader.ts";

/** One FLV tag as the server lays it out (src/media/flv.ts): header, data, PreviousTagSize. */
function tagBytes(type: number, timestamp: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(11 + payload.length + 4);
  writeTagHeader(out, 0, type, payload.length, timestamp);
  out.set(payload, 11);
  writeU32(out, 11 + payload.length, 11 + payload.length);
  return out;
}

/** The tags read from `pieces`, copied out (the reader hands on views it may reuse). */
function read(pieces: Uint8Array[]): { type: number; timestamp: number; payload: string }[] {
  const tags: { type: number; timestamp: number; payload: string }[] = [];
  const reader = new FlvTagReader((t: FlvTag) => tags.push({ ...t, payload: toHex(t.payload) }));
  for (const piece of pieces) reader.push(piece);
  return tags;
}

const AUDIO = hex("af 01 2110");
const VIDEO = hex("17 01 000000 65");
const stream = concat(flvFileHeader(true, true), tagBytes(8, 0x01020304, AUDIO), tagBytes(9, 40, VIDEO));
const expected = [
  { type: 8, timestamp: 0x01020304, payload: "af012110" },
  { type: 9, timestamp: 40, payload: "170100000065" },
];

describe("FlvTagReader", () => {
  it("reads the server's tag layout back, the timestamp's upper byte included", () => {
    // "FLV" v1, audio+video, header size 9, PreviousTagSize0; type 8, size 4, timestamp 020304 + 01, stream 0,
    // the data, PreviousTagSize 15.
    expect(toHex(stream.subarray(0, 32))).toBe(toHex(hex(`"FLV" 01 05 00000009 00000000
      08 000004 020304 01 000000 af012110 0000000f`)));
    expect(read([stream])).toEqual(expected);
  });

  it("gives the same tags however the stream is split, in two pieces or byte by byte", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      expect(read([stream.subarray(0, cut), stream.subarray(cut)])).toEqual(expected);
    }
    expect(read(Array.from(stream, (b) => Uint8Array.of(b)))).toEqual(expected);
  });

  it("carries a tag larger than its first buffer across pieces", () => {
    const big = ramp(0x27, 600 * 1024);
    const bytes = concat(flvFileHeader(false, true), tagBytes(9, 1000, big));
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 64 * 1024) pieces.push(bytes.subarray(at, at + 64 * 1024));
    expect(read(pieces)).toEqual([{ type: 9, timestamp: 1000, payload: toHex(big) }]);
  });

  it("refuses a stream that is not FLV", () => {
    expect(() => read([new TextEncoder().encode("<html>not found</html>")])).toThrow("the response is not FLV");
  });
});
