import { afterEach, beforeEach, describe, expect, it, jest } from "bun:test";
import { Collector } from "../../src/shared/collector.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("Collector", () => {
  const stats = { bytesIn: 0 };
  const collections: boolean[] = [];
  let collector: Collector;
  /** Reads `bytes` spread over `ms` of the collector's clock, 30 ms at a time. */
  const read = (bytes: number, ms: number) => {
    for (let t = 0; t < ms; t += 30) {
      stats.bytesIn += (bytes * 30) / ms;
      jest.advanceTimersByTime(30);
    }
  };

  beforeEach(() => {
    jest.useFakeTimers();
    stats.bytesIn = 0;
    collections.length = 0;
    collector = new Collector(stats, (full) => collections.push(full));
  });
  afterEach(() => {
    collector.stop();
    jest.useRealTimers();
  });

  it("collects the young generation every 30 ms while data comes in, and nothing while none does", () => {
    read(0, 3000);
    expect(collections).toEqual([]);
    read(64 * KiB * 10, 300);
    expect(collections).toEqual(Array(10).fill(false));
  });

  it("waits for 64 KiB read before collecting", () => {
    read(60 * KiB, 3000);
    expect(collections).toEqual([]);
    read(4 * KiB, 30);
    expect(collections).toEqual([false]);
  });

  it("makes a full collection after every 32 MiB read, not every so many seconds", () => {
    // One publisher's 325 KB/s for a minute: no full collection.
    read(60 * 325_000, 60_000);
    expect(collections.filter((full) => full)).toEqual([]);
    // 50 publishers' 16 MB/s: about one every 2 s.
    collections.length = 0;
    read(10 * 16 * MiB, 10_000);
    // Every 30 ms tick collects; 5 of them fully (the first also counts what the minute before read).
    expect(collections.length).toBe(334);
    expect(collections.filter((full) => full).length).toBe(5);
  });
});
