/**
 * The boxes that make a finished MP4 recording seekable (src/media/fmp4/random-access.ts), as exact bytes from
 * ISO/IEC 14496-12 and read back by the test reader: sidx, the mfra with its tfra and mfro, and free.
 */
import { describe, expect, it } from "bun:test";
import { fragmentRandomAccess, freeBox, segmentIndex, segmentIndexSize } from "../../src/media/fmp4/random-access.ts";
import { boxes } from "../../support/fmp4.ts";
import { hex } from "../helpers/hex.ts";
import { readSegmentIndex, readTrackRandomAccess } from "./mp4-reading.ts";

describe("the MP4 random access boxes", () => {
  it("write a sidx: version 1, 64-bit times and offset, a reference per subsegment with its SAP flag", () => {
    const index = {
      referenceId: 1,
      timescale: 90_000,
      earliestPresentationTime: 2_070,
      firstOffset: 24,
      references: [
        { size: 1_000, duration: 90_000, startsWithSap: true },
        { size: 2_000, duration: 45_000, startsWithSap: false },
      ],
    };
    const bytes = segmentIndex(index);
    expect(bytes).toEqual(
      hex(`00000040 "sidx" 01 000000  00000001 00015f90  0000000000000816 0000000000000018  0000 0002
           000003e8 00015f90 90000000   000007d0 0000afc8 00000000`),
    );
    expect(bytes.length).toBe(segmentIndexSize(2));
    // Read back, the references start at the first byte after the box plus first_offset.
    expect(readSegmentIndex(bytes.subarray(8), 100 + bytes.length)).toEqual({
      referenceId: 1,
      timescale: 90_000,
      earliestPresentationTime: 2_070,
      start: 100 + bytes.length + 24,
      references: index.references,
    });
  });

  it("write an mfra: a tfra per track (version 1, one-byte traf/trun/sample numbers), then an mfro with its size", () => {
    const bytes = fragmentRandomAccess([
      { trackId: 1, points: [{ time: 2_070, moofOffset: 1_375, trafNumber: 1 }] },
      { trackId: 2, points: [{ time: 0, moofOffset: 1_375, trafNumber: 2 }] },
    ]);
    expect(bytes).toEqual(
      hex(`0000006e "mfra"
           0000002b "tfra" 01 000000 00000001 00000000 00000001  0000000000000816 000000000000055f 01 01 01
           0000002b "tfra" 01 000000 00000002 00000000 00000001  0000000000000000 000000000000055f 02 01 01
           00000010 "mfro" 00 000000 0000006e`),
    );
    const [mfra] = boxes(bytes);
    const [first, second] = boxes(mfra.body).filter((b) => b.type === "tfra");
    expect(readTrackRandomAccess(first.body)).toEqual([1, [{ time: 2_070, moofOffset: 1_375, traf: 1, trun: 1, sample: 1 }]]);
    expect(readTrackRandomAccess(second.body)).toEqual([2, [{ time: 0, moofOffset: 1_375, traf: 2, trun: 1, sample: 1 }]]);
  });

  it("write a free box of exactly the size asked, and refuse one smaller than its header", () => {
    expect(freeBox(12)).toEqual(hex(`0000000c "free" 00000000`));
    expect(() => freeBox(7)).toThrow("at least 8 bytes");
  });
});
