/**
 * What the benchmark reads from /proc: a process's CPU time (utime + stime, and that of its reaped children),
 * per thread too, and resident memory, current and peak, and the whole machine's busy time. Linux only, like
 * the rest of the end-to-end benchmark.
 */
import { readFileSync, readdirSync } from "node:fs";

let ticks: number | undefined;

/** Clock ticks per second, the unit of utime and stime in /proc/PID/stat. */
function clockTicks(): number {
  ticks ??= Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  return ticks;
}

/**
 * utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat, after the parenthesised name),
 * plus with `reapedChildren` cutime + cstime (16 and 17): the children it has waited for, such as hook scripts.
 */
export function processCpuSeconds(pid: number, { reapedChildren = false } = {}): number {
  return statCpuSeconds(`/proc/${pid}/stat`, reapedChildren);
}

function statCpuSeconds(path: string, reapedChildren: boolean): number {
  const stat = readFileSync(path, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) to cstime (17) are at 11 to 14.
  const ticks = Number(fields[11]) + Number(fields[12]) + (reapedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
  return ticks / clockTicks();
}

/** CPU seconds of a group of a process's threads over a window. */
export interface ThreadCpu {
  name: string;
  seconds: number;
}

/** Each live thread of a process by id: its group's name and utime + stime so far (/proc/PID/task/TID). */
export type ThreadSnapshot = Map<number, ThreadCpu>;

/**
 * What a process's threads are called, by their comm with the numbering dropped ("Bun Pool 3" is one of the
 * "Bun Pool" threads); the main thread runs the JavaScript. JavaScriptCore's names are cut to their last 15
 * characters ("Heap Collector Thread" shows as "ollector Thread").
 */
const THREAD_NAMES: Record<string, string> = {
  HeapHelper: "JSC GC helpers",
  "ollector Thread": "JSC GC collector",
  JITWorker: "JSC JIT",
  "Bun Pool": "Bun pool",
  "mi-scavenger": "mimalloc scavenger",
};

function threadName(pid: number, tid: number, comm: string): string {
  if (tid === pid) return "JS main";
  const bare = comm.replace(/\s*\d+$/, "");
  return THREAD_NAMES[bare] ?? bare;
}

/** A thread that ends between two reads is left out, so the snapshot holds the threads alive throughout. */
export function threadSnapshot(pid: number): ThreadSnapshot {
  const snapshot: ThreadSnapshot = new Map();
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(entry);
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      snapshot.set(tid, { name: threadName(pid, tid, comm), seconds: statCpuSeconds(`/proc/${pid}/task/${tid}/stat`, false) });
    } catch {
      // The thread ended after the listing.
    }
  }
  return snapshot;
}

/**
 * CPU per group of threads between two snapshots, most first; a thread born in between counts from zero, and
 * what threads that ended in between used is "exited threads": the process's CPU (`processSeconds`) less the
 * rest.
 */
export function threadCpuBetween(before: ThreadSnapshot, after: ThreadSnapshot, processSeconds: number): ThreadCpu[] {
  const groups = new Map<string, number>();
  for (const [tid, { name, seconds }] of after) {
    groups.set(name, (groups.get(name) ?? 0) + seconds - (before.get(tid)?.seconds ?? 0));
  }
  const counted = [...groups.values()].reduce((a, b) => a + b, 0);
  // Below a clock tick per thread the difference is rounding, not a thread.
  if (processSeconds - counted > after.size / clockTicks()) groups.set("exited threads", processSeconds - counted);
  return [...groups].map(([name, seconds]) => ({ name, seconds })).sort((a, b) => b.seconds - a.seconds);
}

function statusMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match === null ? NaN : Number(match[1]) / 1024;
}

/** Resident memory now, MiB. */
export function rssMiB(pid: number): number {
  return statusMiB(pid, "VmRSS");
}

/** Highest resident memory since the process started, MiB. */
export function peakRssMiB(pid: number): number {
  return statusMiB(pid, "VmHWM");
}

/**
 * CPU seconds all cores spent busy, steal included (time the hypervisor gave to another guest), from the
 * first line of /proc/stat: user nice system idle iowait irq softirq steal ... (guest is inside user).
 */
export function machineBusySeconds(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return (user + nice + system + irq + softirq + steal) / clockTicks();
}
