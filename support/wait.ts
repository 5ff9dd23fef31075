/**
 * The one way tests and benchmarks wait: for a condition, polled, or for an event, a promise; either fails
 * naming what it waited for once its bound has passed. Nothing waits a fixed time and then looks.
 */

/** Polls `predicate` every 20 ms; throws naming `what` (and `detail()`, if given) after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = "condition",
  detail?: () => string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (performance.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail === undefined ? "" : `\n${detail()}`}`);
    }
    await Bun.sleep(20);
  }
}

/** What `event` resolves to; throws naming `what` if it has not settled after `timeoutMs`. */
export async function within<T>(event: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([event, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lets the event loop go round `turns` times, polling I/O on each: what a paused or closed reader must show
 * nothing for, however much is pending for it. A count of turns, not a time, so it holds under fake timers.
 */
export async function eventLoopTurns(turns: number): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
}
