/**
 * HTTP players asking for a stream that is not published yet: each waits, up to a deadline, for the
 * stream's publish_start. One event subscription serves them all; a waiter never subscribes to the stream
 * (a 404 leaves no trace in the registry or the hooks). Each wait first demands the stream from its source
 * (the registry, which asks the cluster).
 */
import type { EventChannel } from "../events/events.ts";
import type { StreamSource } from "./stream-source.ts";

export class PublishWaiters {
  /** Per stream key, each waiter's settle function (true: published). */
  private readonly waiting = new Map<string, Set<(published: boolean) => void>>();
  private readonly unsubscribe: () => void;

  constructor(
    events: EventChannel,
    private readonly source: StreamSource,
  ) {
    this.unsubscribe = events.subscribe((event) => {
      if (event.type === "publish_start" && event.stream_key !== undefined) this.wake(event.stream_key);
    });
  }

  /**
   * True once `key` is published; false after `timeoutMs`, or as soon as `until` settles (the player left).
   * It resolves after the publish that woke it has finished, so the stream is ready to be played.
   */
  wait(key: string, timeoutMs: number, until: Promise<unknown>): Promise<boolean> {
    const waited = new Promise<boolean>((resolve) => {
      const set = this.waiting.get(key) ?? new Set();
      this.waiting.set(key, set);
      const done = (published: boolean) => {
        clearTimeout(timer);
        if (!set.delete(done)) return;
        if (set.size === 0 && this.waiting.get(key) === set) this.waiting.delete(key);
        resolve(published);
      };
      set.add(done);
      const timer = setTimeout(() => done(false), timeoutMs);
      until.then(
        () => done(false),
        () => done(false),
      );
    });
    this.source.demand(key);
    return waited;
  }

  /** Every waiter gives up now (shutdown). */
  close(): void {
    for (const set of [...this.waiting.values()]) for (const done of [...set]) done(false);
    this.unsubscribe();
  }

  private wake(key: string): void {
    const set = this.waiting.get(key);
    if (set === undefined) return;
    // Woken from inside the publish: let it finish (its players and outputs set up) before anyone plays.
    queueMicrotask(() => {
      for (const done of [...set]) done(true);
    });
  }
}
