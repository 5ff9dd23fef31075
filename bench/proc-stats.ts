/**
 * What the benchmark reads from /proc: a process's CPU time (utime + stime) and resident memory, current and
 * peak, and the whole machine's busy time. Linux only, like the rest of the end-to-end benchmark.
 */
import { readFileSync } from "node:fs";

let ticks: number | undefined;

/** Clock ticks per second, the unit of utime and stime in /proc/PID/stat. */
function clockTicks(): number {
  ticks ??= Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  return ticks;
}

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat, after the parenthesised name). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
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
