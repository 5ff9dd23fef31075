/**
 * Messages sent over an IPC channel that each wait for one reply carrying their id (a worker's calls, the
 * supervisor's queries of a sibling): bounded in number, each ending with a fallback when no reply comes in time.
 */

export class PendingReplies {
  private readonly waiting = new Map<number, (result: unknown) => void>();
  private nextId = 1;

  constructor(
    private readonly max: number,
    private readonly timeoutMs: number,
    /** What a wait ends with when its reply cannot come or does not come in time. */
    private readonly fallback: unknown,
  ) {}

  /** The reply to what `send` sent with `id`; the fallback if too many wait, `send` failed (false), or time ran out. */
  wait(send: (id: number) => boolean): Promise<unknown> {
    if (this.waiting.size >= this.max) return Promise.resolve(this.fallback);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, this.fallback), this.timeoutMs);
      this.waiting.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      if (!send(id)) this.settle(id, this.fallback);
    });
  }

  /** The reply to `id` came (a late or unknown one is dropped). */
  settle(id: number, result: unknown): void {
    const resolve = this.waiting.get(id);
    if (resolve === undefined) return;
    this.waiting.delete(id);
    resolve(result);
  }

  /** The other end is gone: every wait ends with the fallback. */
  settleAll(): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, this.fallback);
  }
}
