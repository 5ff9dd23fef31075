/**
 * The one way an HLS request waits for its muxer to publish something (a blocking playlist reload, a hinted
 * part, the first segment): a bounded set of waiters per muxer, each with its condition and its deadline,
 * re-checked every time a part or a segment is published.
 */

export type WaitResult = "ready" | "timeout" | "closed";

interface Waiter {
  ready(): boolean;
  settle(result: WaitResult): void;
}

export class Waiters {
  private readonly waiting = new Set<Waiter>();
  private closed = false;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Settles "ready" once `ready()` holds, "timeout" after `timeoutMs`, "closed" when the muxer stops or the
   * client leaves (`signal`). Null when `max` requests wait already: the caller refuses this one.
   */
  wait(ready: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult> | null {
    if (this.closed) return Promise.resolve("closed");
    if (ready()) return Promise.resolve("ready");
    if (this.waiting.size >= this.max) return null;
    return new Promise((resolve) => {
      const left = () => waiter.settle("closed");
      const waiter: Waiter = {
        ready,
        settle: (result) => {
          if (!this.waiting.delete(waiter)) return;
          clearTimeout(timer);
          signal?.removeEventListener("abort", left);
          resolve(result);
        },
      };
      this.waiting.add(waiter);
      const timer = setTimeout(() => waiter.settle("timeout"), timeoutMs);
      signal?.addEventListener("abort", left, { once: true });
    });
  }

  /** Something was published: every waiter whose condition now holds is answered. */
  wake(): void {
    for (const waiter of this.waiting) if (waiter.ready()) waiter.settle("ready");
  }

  /** The muxer stops: every waiter is answered "closed", and later ones at once. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting) waiter.settle("closed");
  }
}
