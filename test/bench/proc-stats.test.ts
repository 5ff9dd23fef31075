import { describe, expect, it } from "bun:test";
import { processCpuSeconds, threadCpuBetween, threadSnapshot } from "../../bench/proc-stats.ts";

describe("threadSnapshot", () => {
  it("names this process's main thread JS main and reads each thread's CPU so far", () => {
    const snapshot = threadSnapshot(process.pid);
    expect(snapshot.get(process.pid)?.name).toBe("JS main");
    const total = [...snapshot.values()].reduce((n, t) => n + t.seconds, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(processCpuSeconds(process.pid));
  });
});

describe("threadCpuBetween", () => {
  const snapshot = (threads: [number, string, number][]) => new Map(threads.map(([tid, name, seconds]) => [tid, { name, seconds }]));

  it("adds up each group's threads, counts a new thread from zero and the rest of the process as exited", () => {
    const before = snapshot([[1, "JS main", 10], [2, "JSC GC helpers", 1], [3, "JSC GC helpers", 1], [4, "Bun pool", 5]]);
    const after = snapshot([[1, "JS main", 13], [2, "JSC GC helpers", 1.5], [3, "JSC GC helpers", 1.25], [5, "Bun pool", 0.5]]);
    expect(threadCpuBetween(before, after, 6)).toEqual([
      { name: "JS main", seconds: 3 },
      { name: "exited threads", seconds: 1.75 },
      { name: "JSC GC helpers", seconds: 0.75 },
      { name: "Bun pool", seconds: 0.5 },
    ]);
  });

  it("leaves out a remainder smaller than a clock tick per thread", () => {
    const before = snapshot([[1, "JS main", 1]]);
    const after = snapshot([[1, "JS main", 2]]);
    expect(threadCpuBetween(before, after, 1.001)).toEqual([{ name: "JS main", seconds: 1 }]);
  });
});
