/**
 * End-to-end loopback fan-out: the server as a child process pinned to CPU 0, one real-time publisher and N
 * players in a second child pinned to CPU 1 (fanout-clients.ts), and a table of server CPU per GB delivered,
 * latency, time to first frame, peak RSS and loss. With --nginx, nginx-rtmp runs the same load for comparison.
 *
 *   bun bench/fanout.ts [--nginx] [--seconds S] [N ...]
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../test/helpers/media.ts";
import type { ClientsResult } from "./fanout-clients.ts";

export interface FanoutOptions {
  /** Player counts to run, one server start each. Default [1, 50, 200]. */
  players?: number[];
  /** Length of each measured window. Default 15. */
  seconds?: number;
  /** Also run every count against nginx-rtmp (which must be installed). Default false. */
  nginx?: boolean;
}

type ServerKind = "bun" | "nginx";

interface Row {
  server: ServerKind;
  result: ClientsResult;
  peakRssMiB: number;
}

const ROOT = join(import.meta.dir, "..");
const NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const START_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 3_000;

/** Every child alive right now, so that an error or Ctrl-C never leaves one running. */
const live = new Set<Subprocess>();

function track<P extends Subprocess>(proc: P): P {
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

function killAll(): void {
  for (const proc of live) proc.kill("SIGKILL");
}

/** taskset prefix pinning a child to one CPU, or nothing where taskset is missing. */
function pinned(cpu: number): string[] {
  return Bun.which("taskset") === null ? [] : ["taskset", "-c", String(cpu)];
}

function serverCommand(kind: ServerKind, dir: string, port: number): string[] {
  if (kind === "bun") {
    const config = join(dir, "server.yaml");
    writeFileSync(config, `listen: "127.0.0.1:${port}"\nlog:\n  level: warn\n`);
    return [process.execPath, "src/cli.ts", "--config", config];
  }
  if (Bun.which("nginx") === null) {
    throw new Error("--nginx: nginx is not installed (apt-get install nginx libnginx-mod-rtmp)");
  }
  // nginx opens <prefix>/logs/error.log before it reads the configuration.
  mkdirSync(join(dir, "logs"));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    [
      existsSync(NGINX_RTMP_MODULE) ? `load_module ${NGINX_RTMP_MODULE};` : "",
      `error_log ${join(dir, "logs", "error.log")} warn;`,
      `pid ${join(dir, "nginx.pid")};`,
      "events { worker_connections 4096; }",
      // wait_key: a joining player starts at a keyframe, as ours does from its GOP cache.
      `rtmp { server { listen 127.0.0.1:${port}; chunk_size 4096; application live { live on; wait_key on; } } }`,
      "",
    ].join("\n"),
  );
  return ["nginx", "-p", dir, "-c", conf, "-g", "daemon off; master_process off;"];
}

async function waitForPort(port: number, server: Subprocess): Promise<void> {
  const deadline = performance.now() + START_DEADLINE_MS;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode} before listening`);
    try {
      const probe = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.end();
      return;
    } catch {
      if (performance.now() > deadline) {
        throw new Error(`the server is not listening on ${port} after ${START_DEADLINE_MS} ms`);
      }
      await Bun.sleep(50);
    }
  }
}

function peakRssMiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match === null ? NaN : Number(match[1]) / 1024;
}

async function stop(proc: Subprocess): Promise<void> {
  proc.kill("SIGTERM");
  const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(STOP_GRACE_MS).then(() => false)]);
  if (!exited) proc.kill("SIGKILL");
}

async function runOne(kind: ServerKind, players: number, seconds: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "rtmp-fanout-"));
  const logPath = join(dir, "server.log");
  const logFd = openSync(logPath, "w");
  const port = freePort();
  let server: Subprocess | undefined;
  try {
    // Output goes to a file, never to a pipe nobody reads: a full pipe would stall the server mid-run.
    const command = [...pinned(0), ...serverCommand(kind, dir, port)];
    server = track(Bun.spawn(command, { cwd: ROOT, stdin: "ignore", stdout: logFd, stderr: logFd }));
    await waitForPort(port, server);
    const args = [String(port), String(players), String(seconds), String(server.pid)];
    const clients = track(
      Bun.spawn([...pinned(1), process.execPath, "bench/fanout-clients.ts", ...args], {
        cwd: ROOT,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "inherit",
        timeout: (seconds + 120) * 1000,
      }),
    );
    const [stdout, code] = await Promise.all([new Response(clients.stdout).text(), clients.exited]);
    if (code !== 0) throw new Error(`fanout-clients exited with code ${code}`);
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode} during the run`);
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as ClientsResult;
    return { server: kind, result, peakRssMiB: peakRssMiB(server.pid) };
  } catch (err) {
    const log = readFileSync(logPath, "utf8");
    const tail = log.length > 3000 ? `...${log.slice(-3000)}` : log;
    const logPart = tail === "" ? "" : `\nserver log:\n${tail}`;
    throw new Error(`${kind} server, ${players} players: ${(err as Error).message}${logPart}`);
  } finally {
    if (server !== undefined) await stop(server);
    closeSync(logFd);
    rmSync(dir, { recursive: true, force: true });
  }
}

const COLUMNS = [
  ["server", 6],
  ["players", 7],
  ["CPU s/GB", 9],
  ["GB", 6],
  ["lat p50", 8],
  ["p99", 7],
  ["max ms", 7],
  ["1st frame", 9],
  ["peak RSS", 9],
  ["msgs/player min|med of exp", 26],
  ["lost", 6],
  ["client CPU", 10],
] as const;

function formatRow(row: Row): string {
  const r = row.result;
  const sorted = [...r.received].sort((a, b) => a - b);
  const lost = r.expected * r.players - sorted.reduce((n, x) => n + x, 0);
  const gb = r.bytes / 1e9;
  const ms = (x: number) => x.toFixed(1);
  const cells = [
    row.server,
    `${r.playing}/${r.players}`,
    (r.serverCpuSeconds / gb).toFixed(2),
    gb.toFixed(3),
    ms(r.latencyMs.p50),
    ms(r.latencyMs.p99),
    ms(r.latencyMs.max),
    `${ms(r.firstFrameMs)} ms`,
    `${row.peakRssMiB.toFixed(0)} MiB`,
    `${sorted[0] ?? 0}|${sorted[Math.floor(sorted.length / 2)] ?? 0} of ${r.expected}`,
    `${((100 * lost) / Math.max(1, r.expected * r.players)).toFixed(2)}%`,
    `${((100 * r.clientCpuSeconds) / r.windowSeconds).toFixed(0)}%`,
  ];
  return cells.map((c, i) => c.padStart(COLUMNS[i][1])).join("  ");
}

/** Runs every player count (against nginx-rtmp too with `nginx`) and prints one table row per run. */
export async function runFanout(opts: FanoutOptions = {}): Promise<void> {
  const players = opts.players ?? [1, 50, 200];
  const seconds = opts.seconds ?? 15;
  const kinds: ServerKind[] = opts.nginx === true ? ["bun", "nginx"] : ["bun"];
  const onSignal = () => {
    killAll();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", killAll);
  try {
    console.log(`\nfan-out over loopback: ~2.6 Mbit/s publisher, ${seconds} s window per run`);
    const pinning = pinned(0).length === 0 ? " (taskset missing: not pinned)" : "";
    console.log(`  server pinned to CPU 0, clients to CPU 1${pinning}`);
    console.log(COLUMNS.map(([name, width]) => name.padStart(width)).join("  "));
    for (const kind of kinds) {
      for (const n of players) {
        const row = await runOne(kind, n, seconds);
        console.log(formatRow(row));
        for (const e of row.result.errors) console.log(`    ${e}`);
      }
    }
    console.log(
      [
        "  CPU s/GB: server utime+stime over the bytes all players received in the window",
        "  latency: publisher send -> player receive, per media message",
        "  1st frame: play request -> first video frame, median over players (joins spread over one GOP)",
        "  lost: expected - received, over all players",
      ].join("\n"),
    );
  } finally {
    killAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", killAll);
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const nginx = args.includes("--nginx");
  const at = args.indexOf("--seconds");
  const seconds = at < 0 ? undefined : Number(args[at + 1]);
  const players = args.filter((a, i) => /^\d+$/.test(a) && (at < 0 || i !== at + 1)).map(Number);
  if (seconds !== undefined && !(seconds > 0)) {
    console.error("usage: bun bench/fanout.ts [--nginx] [--seconds S] [N ...]");
    process.exit(2);
  }
  await runFanout({ players: players.length > 0 ? players : undefined, seconds, nginx });
}
