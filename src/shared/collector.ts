/**
 * Garbage collections paced by the bytes the server reads: a young-generation one every 30 ms while data
 * flows, and a full one after every 32 MiB read.
 *
 * Bun hands every socket read over in a buffer of its own, and those buffers are freed only when the
 * garbage collector runs. Left to its own pace it lets megabytes of them pile up and frees them in bulk, and
 * the allocator hands the memory back to the kernel before it is used again: a page fault per 4 KiB on the
 * next reads and an madvise, with a TLB flush, per release. With 50 real-time publishers that was a quarter of
 * the server's CPU. A young-generation collection every 30 ms while data flows frees the buffers while their
 * memory is still in use: with 50 publishers page faults fell from about 3,800/s to under 1,000/s, CPU per GB
 * by 7-14% and peak RSS from 135 to 115 MiB (bench: --shape publishers). It costs nothing while no data comes in.
 *
 * Now and then the collection is a full one. Frames live about a GOP, long enough to leave the young
 * generation, and JSC collects the old one only once the heap has grown well past what is live: a full
 * collection every 2 s took peak RSS at 50 publishers from 101-102 to 95 MiB, for 3-7% more CPU per GB. That
 * garbage comes with what publishers send, so the full collections follow the bytes read, not the clock: 32
 * MiB is 2 s of 50 publishers, as before, but a minute and more of one publisher, whose 200 players make each
 * full collection mark 6 ms of their state (every 2 s, that was 5% of the CPU per GB of that fan-out).
 */
import type { ServerStats } from "./server-stats.ts";

const COLLECT_EVERY_MS = 30;
/** Less than this read since the last collection: too little garbage to be worth one. */
const COLLECT_AFTER_BYTES = 64 * 1024;
/** Read since the last full collection before the next one. */
const FULL_COLLECT_AFTER_BYTES = 32 * 1024 * 1024;

export class Collector {
  private readonly timer: ReturnType<typeof setInterval>;
  private collectedAt = 0;
  private fullAt = 0;

  /** `collect`: Bun.gc, or what a test watches in its place. */
  constructor(stats: Pick<ServerStats, "bytesIn">, collect: (full: boolean) => void = Bun.gc) {
    this.timer = setInterval(() => {
      const read = stats.bytesIn;
      if (read - this.collectedAt < COLLECT_AFTER_BYTES) return;
      this.collectedAt = read;
      const full = read - this.fullAt >= FULL_COLLECT_AFTER_BYTES;
      if (full) this.fullAt = read;
      collect(full);
    }, COLLECT_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
