/**
 * isVideoSequenceEnd (src/media/codec-info.ts): the end-of-sequence marker that encoders flag as a keyframe must
 * not start a recording, a segment or an index entry. Exact video tag bodies, legacy and Enhanced RTMP.
 */
import { describe, expect, it } from "bun:test";
import { isVideoSequenceEnd, opensGop } from "../../src/media/codec-info.ts";
import { hex } from "../helpers/hex.ts";

describe("the video end-of-sequence marker", () => {
  const vectors: Array<[string, string, boolean]> = [
    ["AVC end of sequence (what FFmpeg writes last)", "17 02 000000", true],
    ["AVC keyframe", "17 01 000000 00000002 0910", false],
    ["AVC sequence header", "17 00 000000 01640028", false],
    ["AVC inter frame", "27 01 000000 00000002 0910", false],
    ["legacy HEVC (codec id 12) end of sequence", "1c 02 000000", true],
    ["VP6 keyframe, no packet type at all", "14 02 0000", false],
    ["Enhanced HEVC SequenceEnd", '92 "hvc1"', true],
    ["Enhanced HEVC CodedFrames keyframe", '91 "hvc1" 000000 00000002 2601', false],
    ["Enhanced multitrack AV1 SequenceEnd, one track", '96 02 "av01" 00', true],
    ["Enhanced SequenceEnd behind a ModEx block", '97 00 00 02 "av01"', true],
    ["truncated Enhanced header", "92 6876", false],
    ["one byte", "17", false],
  ];
  for (const [what, bytes, expected] of vectors) {
    it(`${expected ? "is" : "is not"} one: ${what}`, () => {
      expect(isVideoSequenceEnd(hex(bytes))).toBe(expected);
    });
  }
});

describe("opensGop: the keyframe flag every output starts at (the stream computes it once)", () => {
  const vectors: Array<[string, string, boolean]> = [
    ["AVC keyframe", "17 01 000000 00000002 0910", true],
    ["AVC end of sequence, flagged keyframe", "17 02 000000", false],
    ["AVC inter frame", "27 01 000000 00000002 0910", false],
    ["Enhanced HEVC CodedFrames keyframe", '91 "hvc1" 000000 00000002 2601', true],
    ["Enhanced HEVC SequenceEnd, flagged keyframe", '92 "hvc1"', false],
  ];
  for (const [what, bytes, expected] of vectors) {
    it(`${expected ? "opens" : "does not open"} a GOP: ${what}`, () => {
      expect(opensGop(hex(bytes))).toBe(expected);
    });
  }
});
