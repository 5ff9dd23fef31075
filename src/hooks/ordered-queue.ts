/**
 * A bounded queue that releases items in order per key: an item becomes ready once every earlier item that
 * shares one of its keys is done, so items with no key in common run side by side. The hook runner keys an
 * event by its stream and its connection; `limit` bounds the items waiting (ready or not, never started).
 */

/** What take() hands out and done() takes back. */
export interface Ticket<T> {
  readonly item: T;
}

const WAITING = 0;
const READY = 1;
const RUNNING = 2;

interface Entry<T> extends Ticket<T> {
  readonly keys: readonly string[];
  state: typeof WAITING | typeof READY | typeof RUNNING;
}

export class OrderedQueue<T> {
  /** Per key, the unfinished entries holding it, oldest first: only a lane's head may run. */
  private readonly lanes = new Map<string, Fifo<Entry<T>>>();
  private readonly ready = new Fifo<Entry<T>>();
  private waitingCount = 0;

  constructor(readonly limit: number) {}

  /** Items pushed and not taken yet. */
  get waiting(): number {
    return this.waitingCount;
  }

  hasReady(): boolean {
    return !this.ready.empty;
  }

  /** Queues `item` behind every unfinished item sharing one of `keys`; false (and nothing queued) when full. */
  push(item: T, keys: readonly string[]): boolean {
    if (this.waitingCount >= this.limit) return false;
    const entry: Entry<T> = { item, keys, state: WAITING };
    for (const key of keys) {
      let lane = this.lanes.get(key);
      if (lane === undefined) this.lanes.set(key, (lane = new Fifo()));
      lane.push(entry);
    }
    this.waitingCount++;
    this.promote(entry);
    return true;
  }

  /** The oldest ready item, now running until done(); undefined when nothing is ready. */
  take(): Ticket<T> | undefined {
    const entry = this.ready.shift();
    if (entry === undefined) return undefined;
    entry.state = RUNNING;
    this.waitingCount--;
    return entry;
  }

  /** Ends a taken item: the items that waited for it on its keys may become ready. */
  done(ticket: Ticket<T>): void {
    for (const key of (ticket as Entry<T>).keys) {
      const lane = this.lanes.get(key);
      if (lane === undefined) continue;
      // A running entry is the head of each of its lanes: nothing behind it could start.
      lane.shift();
      const next = lane.peek();
      if (next === undefined) this.lanes.delete(key);
      else this.promote(next);
    }
  }

  /** Forgets every waiting item (running ones stay until done()); returns how many were forgotten. */
  clear(): number {
    const forgotten = this.waitingCount;
    for (const [key, lane] of this.lanes) {
      const head = lane.peek();
      if (head !== undefined && head.state === RUNNING) this.lanes.set(key, Fifo.of(head));
      else this.lanes.delete(key);
    }
    while (this.ready.shift() !== undefined);
    this.waitingCount = 0;
    return forgotten;
  }

  private promote(entry: Entry<T>): void {
    if (entry.state !== WAITING) return;
    for (const key of entry.keys) if (this.lanes.get(key)?.peek() !== entry) return;
    entry.state = READY;
    this.ready.push(entry);
  }
}

/** An array queue with a moving head: shift() is O(1), and the array is compacted once half of it is spent. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  static of<T>(item: T): Fifo<T> {
    const fifo = new Fifo<T>();
    fifo.push(item);
    return fifo;
  }

  get empty(): boolean {
    return this.head === this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.empty) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
