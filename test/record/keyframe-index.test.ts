/** The keyframe index: every entry while there is room, then every other one, and so on, in order. */
import { describe, expect, it } from "bun:test";
import { KeyframeIndex } from "../../src/record/keyframe-index.ts";

describe("the keyframe index", () => {
  it("keeps every entry while there is room, as added", () => {
    const index = new KeyframeIndex<{ time: number; position: number }>(8);
    for (let k = 0; k < 5; k++) index.add({ time: k * 2 + 0.04, position: 1000 + k * 100 });
    expect(index.entries.map((e) => e.time)).toEqual([0.04, 2.04, 4.04, 6.04, 8.04]);
    expect(index.entries.map((e) => e.position)).toEqual([1000, 1100, 1200, 1300, 1400]);
  });

  it("halves when full: entries 0, 2, 4, ... then 0, 4, 8, ..., never more than its capacity", () => {
    const index = new KeyframeIndex<number>(4);
    const added: number[] = [];
    for (let k = 0; k < 10; k++) {
      index.add(k);
      added.push(index.length);
    }
    expect(index.entries).toEqual([0, 4, 8]);
    expect(Math.max(...added)).toBe(4);

    const big = new KeyframeIndex<number>(100);
    for (let k = 0; k < 10_000; k++) big.add(k);
    expect(big.length).toBeLessThanOrEqual(100);
    expect(big.length).toBeGreaterThan(50);
    // Evenly spaced from the first keyframe on, in order: a seek anywhere lands within one step.
    const step = big.entries[1];
    expect(big.entries.every((p, i) => p === i * step)).toBe(true);
    expect(10_000 - big.entries[big.length - 1]).toBeLessThanOrEqual(step);
  });

  it("needs room for two entries, the fewest libavformat accepts", () => {
    expect(() => new KeyframeIndex(1)).toThrow("at least 2");
  });
});
