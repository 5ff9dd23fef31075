/**
 * What the benchmark reads from /proc: a process's CPU time (utime + stime, and that of its reaped children)
 * and resident memory, current and peak, and the whole machine's busy time. Linux only, like the rest of the end-to-end benchmark.
 */
import { readFileSync } from "node:fs";

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
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) to cstime (17) are at 11 to 14.
  const ticks = Number(fields[11]) + Number(fields[12]) + (reapedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
  return ticks / clockTicks();
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
