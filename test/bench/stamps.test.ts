import { describe, expect, it } from "bun:test";
import { readSampleStamp, readStamp, stamp } from "../../bench/stamps.ts";

/** A synthetic AVC or AAC payload stamped with send time `sentAt` and `sequence`. */
function payload(video: boolean, sentAt: number, sequence: number): Uint8Array {
  const p = new Uint8Array(40).fill(0x55);
  p.set([video ? 0x17 : 0xaf, 1]);
  stamp(p, sequence);
  new DataView(p.buffer).setFloat64(2, sentAt);
  return p;
}

/** The fMP4 sample of a payload: its body after the FLV header. */
const sample = (video: boolean, p: Uint8Array) => p.subarray(video ? 5 : 2);

describe("readSampleStamp", () => {
  const sentAt = 1_796_625_007_513.1162;

  for (const video of [true, false]) {
    it(`reads the stamps of a ${video ? "video" : "audio"} sample as the payload carried them`, () => {
      const p = payload(video, sentAt, 1234);
      expect(readStamp(p)).toEqual({ sentAt, sequence: 1234 });
      expect(readSampleStamp(video, sample(video, p), sentAt + 250)).toEqual({ sentAt, sequence: 1234 });
    });
  }

  it("restores a video sample's send time across a change of its lost bytes (every 2^28 ms)", () => {
    const period = 2 ** 28;
    const before = Math.ceil(sentAt / period) * period - 3;
    const after = before + 6;
    // Received after the change: the receiver's clock has the next value of the lost bytes.
    expect(readSampleStamp(true, sample(true, payload(true, before, 7)), after + 1)).toEqual({ sentAt: before, sequence: 7 });
    expect(readSampleStamp(true, sample(true, payload(true, after, 8)), after + 1)).toEqual({ sentAt: after, sequence: 8 });
  });

  it("reads nothing from a sample too short to carry the stamps", () => {
    expect(readSampleStamp(true, new Uint8Array(8), sentAt)).toBeNull();
    expect(readSampleStamp(false, new Uint8Array(11), sentAt)).toBeNull();
  });
});
