/**
 * The one way an HLS request waits for its muxer to publish something (a blocking playlist reload, a hinted
 * part, the first segment): a bounded set of waiters per muxer, each with its condition and its deadline,
 * re-checked every time a part or a segment is published. One timer sweeps them for deadlines and clients
 * that left, rather than a timer and an abort listener per request (hundreds of viewers each wait about
 * five times a second).
 */

export type WaitResult = "ready" | "timeout" | "closed";

interface Waiter {
  ready(): boolean;
  /** performance.now() past which it times out. */
  deadline: number;
  signal: AbortSignal | undefined;
  resolve(result: WaitResult): void;
}

/** How often deadlines and departed clients are looked for: how late a timeout or a departure may be noticed. */
const SWEEP_MS = 100;

export class Waiters {
  private readonly waiting = new Set<Waiter>();
  private sweeper: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Settles "ready" once `ready()` holds, "timeout" after `timeoutMs`, "closed" when the muxer stops or the
   * client leaves (`signal`, noticed within SWEEP_MS). Null when `max` requests wait already: the caller
   * refuses this one.
   */
  wait(ready: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult> | null {
    if (this.closed) return Promise.resolve("closed");
    if (ready()) return Promise.resolve("ready");
    if (this.waiting.size >= this.max) return null;
    return new Promise((resolve) => {
      this.waiting.add({ ready, deadline: performance.now() + timeoutMs, signal, resolve });
      this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS);
    });
  }

  /** Something was published: every waiter whose condition now holds is answered. */
  wake(): void {
    for (const waiter of this.waiting) if (waiter.ready()) this.settle(waiter, "ready");
  }

  /** The muxer stops: every waiter is answered "closed", and later ones at once. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting) this.settle(waiter, "closed");
  }

  private sweep(): void {
    const now = performance.now();
    for (const waiter of this.waiting) {
      if (waiter.signal?.aborted === true) this.settle(waiter, "closed");
      else if (now >= waiter.deadline) this.settle(waiter, "timeout");
    }
  }

  private settle(waiter: Waiter, result: WaitResult): void {
    this.waiting.delete(waiter);
    waiter.resolve(result);
    if (this.waiting.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}
