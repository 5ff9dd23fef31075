/**
 * Lets one disk operation run at a time and queues the rest in order. Every async file operation takes one
 * of Bun's fs pool threads until it returns, and the pool is small (one thread per core unless
 * UV_THREADPOOL_SIZE says more): recordings stuck on a stalled disk must not hold all of them, or every file
 * read in the server (token files, TLS reloads) would wait too.
 */

/** Disk operations all recordings together run at once; the rest wait their turn. */
export const DISK_OPERATIONS_AT_ONCE = 1;

export class DiskLane {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly width = DISK_OPERATIONS_AT_ONCE) {}

  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.running < this.width) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await operation();
    } finally {
      // The slot passes straight to the next waiter, so nobody can overtake the queue.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }
}
