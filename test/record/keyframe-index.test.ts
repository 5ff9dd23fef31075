/** The keyframe index: every keyframe while there is room, then every other one, and so on, in order. */
import { describe, expect, it } from "bun:test";
import { KeyframeIndex } from "../../src/record/keyframe-index.ts";

describe("the keyframe index", () => {
  it("keeps every keyframe while there is room, times in seconds", () => {
    const index = new KeyframeIndex(8);
    for (let k = 0; k < 5; k++) index.add(k * 2000 + 40, 1000 + k * 100);
    expect(index.times).toEqual([0.04, 2.04, 4.04, 6.04, 8.04]);
    expect(index.positions).toEqual([1000, 1100, 1200, 1300, 1400]);
  });

  it("halves when full: keyframes 0, 2, 4, ... then 0, 4, 8, ..., never more than its capacity", () => {
    const index = new KeyframeIndex(4);
    const added: number[] = [];
    for (let k = 0; k < 10; k++) {
      index.add(k * 1000, k);
      added.push(index.length);
    }
    expect(index.positions).toEqual([0, 4, 8]);
    expect(index.times).toEqual([0, 4, 8]);
    expect(Math.max(...added)).toBe(4);

    const big = new KeyframeIndex(100);
    for (let k = 0; k < 10_000; k++) big.add(k * 1000, k);
    expect(big.length).toBeLessThanOrEqual(100);
    expect(big.length).toBeGreaterThan(50);
    // Evenly spaced from the first keyframe on, in order: a seek anywhere lands within one step.
    const step = big.positions[1];
    expect(big.positions.every((p, i) => p === i * step)).toBe(true);
    expect(10_000 - big.positions[big.length - 1]).toBeLessThanOrEqual(step);
  });

  it("needs room for two entries, the fewest libavformat accepts", () => {
    expect(() => new KeyframeIndex(1)).toThrow("at least 2");
  });
});
