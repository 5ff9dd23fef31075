import { describe, expect, it } from "bun:test";
import { OrderedQueue, type Ticket } from "../../src/hooks/ordered-queue.ts";
import { mulberry32 } from "../helpers/prng.ts";

function takeAll<T>(queue: OrderedQueue<T>): Ticket<T>[] {
  const taken: Ticket<T>[] = [];
  for (let t = queue.take(); t !== undefined; t = queue.take()) taken.push(t);
  return taken;
}

const items = (tickets: Ticket<string>[]) => tickets.map((t) => t.item);

describe("OrderedQueue", () => {
  it("releases items that share a key one at a time, in push order", () => {
    const queue = new OrderedQueue<string>(100);
    for (const item of ["a1", "a2", "a3"]) queue.push(item, ["stream:a"]);
    const [first] = takeAll(queue);
    expect(first.item).toBe("a1");
    expect(queue.take()).toBeUndefined();
    queue.done(first);
    const [second] = takeAll(queue);
    expect(second.item).toBe("a2");
    queue.done(second);
    expect(items(takeAll(queue))).toEqual(["a3"]);
  });

  it("runs items with no key in common side by side, in push order", () => {
    const queue = new OrderedQueue<string>(100);
    queue.push("a1", ["stream:a"]);
    queue.push("b1", ["stream:b"]);
    queue.push("a2", ["stream:a"]);
    queue.push("free", []);
    queue.push("c1", ["conn:c"]);
    expect(items(takeAll(queue))).toEqual(["a1", "b1", "free", "c1"]);
  });

  it("holds an item with two keys until the earlier items on both keys are done", () => {
    const queue = new OrderedQueue<string>(100);
    queue.push("stream only", ["stream:s"]);
    queue.push("conn only", ["conn:c"]);
    queue.push("both", ["stream:s", "conn:c"]);
    queue.push("conn after both", ["conn:c"]);
    const [streamOnly, connOnly] = takeAll(queue);
    expect([streamOnly.item, connOnly.item]).toEqual(["stream only", "conn only"]);
    queue.done(connOnly);
    expect(queue.take()).toBeUndefined();
    queue.done(streamOnly);
    const [both] = takeAll(queue);
    expect(both.item).toBe("both");
    queue.done(both);
    expect(items(takeAll(queue))).toEqual(["conn after both"]);
  });

  it("refuses items past its limit of waiting ones, and takes again once one has started", () => {
    const queue = new OrderedQueue<number>(3);
    expect([1, 2, 3, 4].map((n) => queue.push(n, ["k"]))).toEqual([true, true, true, false]);
    expect(queue.waiting).toBe(3);
    const first = queue.take()!;
    expect(queue.waiting).toBe(2);
    expect(queue.push(5, ["k"])).toBe(true);
    queue.done(first);
    expect(queue.take()!.item).toBe(2);
  });

  it("clear() forgets what waits and keeps what runs until it is done", () => {
    const queue = new OrderedQueue<string>(100);
    queue.push("a1", ["stream:a"]);
    queue.push("a2", ["stream:a"]);
    queue.push("b1", ["stream:b"]);
    const running = queue.take()!;
    expect(queue.clear()).toBe(2);
    expect(queue.waiting).toBe(0);
    expect(queue.take()).toBeUndefined();
    queue.push("a3", ["stream:a"]);
    expect(queue.take()).toBeUndefined();
    queue.done(running);
    expect(items(takeAll(queue))).toEqual(["a3"]);
  });

  it("never runs two items sharing a key, and starts each key's items in push order (seeded)", () => {
    type Item = { n: number; keys: string[] };
    for (let seed = 1; seed <= 20; seed++) {
      const random = mulberry32(seed);
      const queue = new OrderedQueue<Item>(50);
      const running = new Set<Ticket<Item>>();
      const lastStarted = new Map<string, number>();
      let pushed = 0;
      let finished = 0;
      const start = (ticket: Ticket<Item>) => {
        for (const key of ticket.item.keys) {
          for (const other of running) expect(other.item.keys).not.toContain(key);
          expect(ticket.item.n).toBeGreaterThan(lastStarted.get(key) ?? -1);
          lastStarted.set(key, ticket.item.n);
        }
        running.add(ticket);
      };
      const finish = (ticket: Ticket<Item>) => {
        running.delete(ticket);
        queue.done(ticket);
        finished++;
      };
      for (let step = 0; step < 2_000; step++) {
        const r = random();
        if (r < 0.5) {
          const keys = [`s${Math.floor(random() * 4)}`, `c${Math.floor(random() * 6)}`].filter(() => random() < 0.7);
          if (queue.push({ n: pushed, keys }, keys)) pushed++;
        } else if (r < 0.8) {
          const ticket = queue.take();
          if (ticket !== undefined) start(ticket);
        } else if (running.size > 0) {
          const list = [...running];
          finish(list[Math.floor(random() * list.length)]);
        }
      }
      // Everything still queued drains once the running items are done.
      for (let bound = 0; bound <= pushed && (running.size > 0 || queue.waiting > 0); bound++) {
        for (const ticket of [...running]) finish(ticket);
        for (let ticket = queue.take(); ticket !== undefined; ticket = queue.take()) start(ticket);
      }
      expect({ seed, finished }).toEqual({ seed, finished: pushed });
    }
  });
});
