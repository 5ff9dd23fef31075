/**
 * Tests that spend their time waiting on real-time media, run at the same time (bun's test.concurrent): each
 * gets a fixture of its own, made before its body and disposed of after it, even when it fails. At most
 * AT_ONCE of them run together, whichever describe block they are in (bun runs consecutive concurrent tests
 * together across blocks); the rest wait their turn. Nothing may be shared between them but what they only
 * read. Scope is the plainest fixture: the processes a test starts and what it must undo.
 */
import { it } from "bun:test";
import { Children } from "../../support/children.ts";

export interface Fixture {
  /** Everything the test started is gone once this resolves. */
  dispose(): Promise<void>;
}

export interface TestsAtOnce<F extends Fixture> {
  it(name: string, body: (fixture: F) => Promise<void>, timeoutMs?: number): void;
  /** it(), skipped when `condition` holds (a tool the test needs is missing). */
  skipIf(condition: boolean): Pick<TestsAtOnce<F>, "it">;
}

/**
 * Concurrent tests on two cores: enough to overlap their waiting on real-time media, few enough that FFmpeg
 * and the in-process servers still keep up with it.
 */
const AT_ONCE = 4;

/**
 * Registers concurrent tests in the enclosing describe block, each with a fixture from `make()`, readied by
 * `start` (a server started, say) before the body. No hook of the block's may clean up after them: a block
 * with an afterAll ends its concurrent run there. A test that timed out disposes of its fixture once its body
 * gives up; its child processes die with bun test at the latest (bunfig.toml: noOrphans).
 */
export function testsAtOnce<F extends Fixture>(
  make: () => F,
  start: (fixture: F) => Promise<unknown> = async () => {},
): TestsAtOnce<F> {
  const run = (body: (fixture: F) => Promise<void>) => () =>
    slots.hold(async () => {
      const fixture = make();
      try {
        await start(fixture);
        await body(fixture);
      } finally {
        await fixture.dispose();
      }
    });
  return {
    it: (name, body, timeoutMs) => it.concurrent(name, run(body), timeoutMs),
    skipIf: (condition) => ({
      it: (name, body, timeoutMs) => it.concurrent.skipIf(condition)(name, run(body), timeoutMs),
    }),
  };
}

/** The processes a test started (killed first) and the cleanups it deferred (run last first). */
export class Scope implements Fixture {
  readonly children = new Children();
  private readonly cleanups: (() => unknown)[] = [];

  defer(cleanup: () => unknown): void {
    this.cleanups.push(cleanup);
  }

  async dispose(): Promise<void> {
    await this.children.killAll();
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup();
  }
}

/** At most `size` holders at once; the rest wait in the order they came. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async hold<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.free++;
    }
  }
}

const slots = new Slots(AT_ONCE);
