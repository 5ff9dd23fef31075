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

  it("looks once a second while nothing comes in, collecting nothing", () => {
    read(0, 3000);
    expect(collections).toEqual([]);
    expect(jest.getTimerCount()).toBe(1);
  });

  it("collects the young generation every 30 ms while 50 publishers' 16 MB/s come in", () => {
    read(16 * MiB, 1000);
    collections.length = 0;
    read(16 * MiB, 990);
    expect(collections.length).toBe(33);
  });

  it("waits for 256 KiB read, and collects about once a second for one publisher", () => {
    read(250 * KiB, 3000);
    expect(collections).toEqual([]);
    read(60 * KiB, 1020);
    expect(collections).toEqual([false]);
    collections.length = 0;
    // One publisher's 325 KB/s for ten seconds: 12 times 256 KiB, each seen a little after it is read.
    read(10 * 325_000, 9990);
    expect(collections.length).toBeWithin(10, 13);
  });

  it("makes a full collection after every 32 MiB read, not every so many seconds", () => {
    // One publisher's 325 KB/s for a minute: no full collection.
    read(60 * 325_000, 60_000);
    expect(collections.filter((full) => full)).toEqual([]);
    // 50 publishers' 16 MB/s: about one every 2 s.
    collections.length = 0;
    read(10 * 16 * MiB, 10_000);
    expect(collections.filter((full) => full).length).toBe(5);
  });
});
