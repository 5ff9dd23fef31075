/**
 * Garbage collections paced by the bytes the server reads: a young-generation one after every 256 KiB read
 * (looked at every 30 ms to 1 s, as the pace of reading asks), and a full one after every 32 MiB read.
 *
 * Bun hands every socket read over in a buffer of its own, and those buffers are freed only when the
 * garbage collector runs. Left to its own pace it lets megabytes of them pile up and frees them in bulk, and
 * the allocator hands the memory back to the kernel before it is used again: a page fault per 4 KiB on the
 * next reads and an madvise, with a TLB flush, per release. With 50 real-time publishers that was a quarter of
 * the server's CPU. A young-generation collection every 30 ms while data flows frees the buffers while their
 * memory is still in use: with 50 publishers page faults fell from about 3,800/s to under 1,000/s, CPU per GB
 * by 7-14% and peak RSS from 135 to 115 MiB (bench: --shape publishers). With no data coming in it only looks, once a second.
 * A young collection is not free either: it visits every object written since the last one, and a fan-out
 * writes to every player's queue each frame, so one publisher with 200 players paid about 5% of its CPU per GB
 * for collecting every 200 ms (64 KiB read). 256 KiB keeps 50 publishers (about 490 KiB per 30 ms) collecting
 * every 30 ms, and lets one publisher (about 10 KiB per 30 ms) collect about once a second.
 *
 * Now and then the collection is a full one. Frames live about a GOP, long enough to leave the young
 * generation, and JSC collects the old one only once the heap has grown well past what is live: a full
 * collection every 2 s took peak RSS at 50 publishers from 101-102 to 95 MiB, for 3-7% more CPU per GB. That
 * garbage comes with what publishers send, so the full collections follow the bytes read, not the clock: 32
 * MiB is 2 s of 50 publishers, as before, but a minute and more of one publisher, whose 200 players make each
 * full collection mark 6 ms of their state (every 2 s, that was 5% of the CPU per GB of that fan-out).
 */
import type { ServerStats } from "./server-stats.ts";

/** Less than this read since the last collection: too little garbage to be worth one. */
const COLLECT_AFTER_BYTES = 256 * 1024;
/** Read since the last full collection before the next one. */
const FULL_COLLECT_AFTER_BYTES = 32 * 1024 * 1024;
/** Bounds of the wait between two looks at the bytes read. */
const MIN_WAIT_MS = 30;
const MAX_WAIT_MS = 1000;

export class Collector {
  private timer: ReturnType<typeof setTimeout>;
  private collectedAt = 0;
  private fullAt = 0;
  private lookedAt = 0;
  private waited = MAX_WAIT_MS;

  /** `collect`: Bun.gc, or what a test watches in its place. */
  constructor(
    private readonly stats: Pick<ServerStats, "bytesIn">,
    private readonly collect: (full: boolean) => void = Bun.gc,
  ) {
    this.timer = setTimeout(this.look, this.waited);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /**
   * Collect if enough was read, then wait about as long as the next COLLECT_AFTER_BYTES take to arrive at
   * the pace of the last wait: a timer that fired every 30 ms whatever the pace woke a quiet server 33 times
   * a second, each wake-up a context switch, for collections it mostly skipped.
   */
  private readonly look = (): void => {
    const read = this.stats.bytesIn;
    if (read - this.collectedAt >= COLLECT_AFTER_BYTES) {
      this.collectedAt = read;
      const full = read - this.fullAt >= FULL_COLLECT_AFTER_BYTES;
      if (full) this.fullAt = read;
      this.collect(full);
    }
    const pace = (read - this.lookedAt) / this.waited;
    this.lookedAt = read;
    const due = COLLECT_AFTER_BYTES - (read - this.collectedAt);
    this.waited = pace > 0 ? Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, Math.round(due / pace))) : MAX_WAIT_MS;
    this.timer = setTimeout(this.look, this.waited);
  };
}
