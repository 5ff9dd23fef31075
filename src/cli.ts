/**
 * The executable: flags and YAML -> Config, then the server, until SIGINT/SIGTERM. Exit codes are the
 * operator contract's: 0 clean shutdown, 1 runtime failure, 2 bad flags or configuration.
 */
import pkg from "../package.json" with { type: "json" };
import type { Config } from "./config/config.ts";
import { ConfigError } from "./config/config.ts";
import { parseFlags, resolveConfig, usageText } from "./config/flags.ts";
import { formatConfig } from "./config/load.ts";
import { signCommand } from "./config/sign-command.ts";
import { reserveSharedPorts, SUPERVISOR_STOP_MARGIN_MS, Supervisor } from "./cluster/supervisor.ts";
import { WorkerChannel } from "./cluster/worker-channel.ts";
import { decodeWorkerStart, WORKER_ENV, type WorkerNode, type WorkerStart, workerCount } from "./cluster/worker-node.ts";
import { createLogger } from "./logger.ts";
import { startServer } from "./server.ts";

function loadOrExit(argv: string[]): { config: Config; checkOnly: boolean } {
  try {
    const flags = parseFlags(argv);
    if (flags.help) {
      process.stdout.write(usageText());
      process.exit(0);
    }
    if (flags.version) {
      console.log(`rtmp-server ${pkg.version}`);
      process.exit(0);
    }
    return { config: resolveConfig(flags, process.cwd()), checkOnly: flags.checkConfig };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}

/** `rtmp-server sign ...` prints a signed URL query and exits; it never starts the server. */
function signOrExit(argv: string[]): never {
  try {
    process.stdout.write(signCommand(argv, process.cwd(), Date.now()));
    process.exit(0);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}

if (process.argv[2] === "sign") signOrExit(process.argv.slice(3));
const loaded = loadOrExit(process.argv.slice(2));
if (loaded.checkOnly) {
  process.stdout.write(formatConfig(loaded.config));
  process.exit(0);
}
// A worker of `workers` > 1 is this same executable, started by the supervisor with WORKER_ENV set. Without
// a cluster.secret of the operator's, the workers sign their pulls from each other with one the supervisor made.
const workerStart = decodeWorkerStart(process.env[WORKER_ENV]);
const config = workerStart?.secret ? { ...loaded.config, cluster: { ...loaded.config.cluster, secret: workerStart.secret } } : loaded.config;
const log = workerStart === null ? createLogger(config.log) : createLogger(config.log).child({ worker: workerStart.index });

/** What the signals act on: this process's server, or the supervisor of its workers. */
interface Running {
  /** Resolves true after a clean stop. */
  stop(): Promise<boolean>;
  reload(): void;
  /** A second signal: end now (the supervisor kills its workers). */
  abort(): void;
  /** Past this the process exits 1 whatever the stop is doing. */
  readonly budgetMs: number;
}

let running: Running | null = null;
let signalled = false;
let stopping = false;
// Handlers go in before the server starts: a signal right after "listening" must still shut down cleanly.
// `asked`: a worker's supervisor asks (relaying its own signal, or gone), which is no signal of this process:
// a worker that also gets the signal itself (systemd signals the whole control group, a terminal the whole
// process group) has been asked once, not twice.
const shutdown = (signal: string, asked = false) => {
  if (signalled && !asked) {
    log.warn("second signal: exiting at once", { signal });
    running?.abort();
    process.exit(1);
  }
  signalled ||= !asked;
  if (stopping) return;
  stopping = true;
  log.info("shutting down", { signal, budget_ms: config.timeouts.shutdownMs });
  if (running === null) process.exit(0);
  const budgetMs = running.budgetMs;
  const forced = setTimeout(() => {
    log.error("shutdown budget exceeded: exiting", { budget_ms: config.timeouts.shutdownMs });
    process.exit(1);
  }, budgetMs);
  running.stop().then((clean) => {
    clearTimeout(forced);
    process.exit(clean ? 0 : 1);
  });
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
// SIGHUP re-reads the auth token file and the TLS certificate (and must never kill the process).
process.on("SIGHUP", () => {
  log.info("SIGHUP: reloading");
  running?.reload();
});

/** How to start one more of this process: the compiled executable, or bun (with its own flags) and the script. */
function ownCommand(): string[] {
  const args = process.argv.slice(2);
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath, ...args] : [process.execPath, ...process.execArgv, process.argv[1], ...args];
}

/** The first process of `workers` > 1: starts the workers and supervises them until a signal. */
async function supervise(count: number): Promise<void> {
  const { listen, tls, http, timeouts } = config;
  const ports = reserveSharedPorts({ rtmp: listen, rtmps: tls.listen, http: http.listen });
  const secret = config.cluster.secret === "" ? Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex") : "";
  const supervisor = new Supervisor({ count, command: ownCommand(), env: process.env, ports, secret, shutdownMs: timeouts.shutdownMs }, log);
  // Whatever ends this process ends its workers (they also stop when the IPC channel closes).
  process.on("exit", () => supervisor.kill());
  running = {
    stop: () => supervisor.stop(),
    reload: () => supervisor.reload(),
    abort: () => supervisor.kill(),
    budgetMs: timeouts.shutdownMs + SUPERVISOR_STOP_MARGIN_MS,
  };
  if (!(await supervisor.start())) throw new Error("a worker failed to start (its error is above)");
  log.info("workers serving", { workers: count });
}

/** This process is worker `start.index`: its channel to the supervisor, which also tells it to stop. */
function joinSupervisor(start: WorkerStart): WorkerNode {
  const channel = new WorkerChannel(start.index, start.count, (message) => process.send?.(message), log);
  process.on("message", (message) => channel.receive(message));
  process.on("disconnect", () => {
    channel.close();
    shutdown("supervisor gone", true);
  });
  channel.onStop = () => shutdown("supervisor", true);
  return { ...start, channel };
}

async function serve(worker: WorkerNode | undefined): Promise<void> {
  // Hook scripts get the server's PATH and HOME.
  const { PATH, HOME } = process.env;
  const hookEnvironment = Object.fromEntries(Object.entries({ PATH, HOME }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const server = await startServer(config, log, { hookEnvironment, worker });
  running = {
    stop: () => server.stop().then(() => true),
    reload: () => server.reload(),
    abort: () => {},
    budgetMs: config.timeouts.shutdownMs + 1000,
  };
  worker?.channel.ready();
}

try {
  const workers = workerCount(config.workers);
  if (workerStart === null && workers > 1) await supervise(workers);
  else await serve(workerStart === null ? undefined : joinSupervisor(workerStart));
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  log.error("cannot start", { error: message });
  console.error(`rtmp-server: ${message}`);
  process.exit(1);
}
