/**
 * What the workers tests share: the server as operators run it with `workers` in its config (bun src/cli.ts
 * --config FILE, so the supervisor and its workers are real processes), its JSON log lines (every worker's
 * too: they share its stdout), its API, whether a process still exists, and what a test starts around it.
 */
import { expect } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Child, Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { waitFor } from "../../support/wait.ts";
import { Scope } from "../helpers/at-once.ts";
import { scratchDir } from "../helpers/media.ts";
import type { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";

const CLI = resolve(import.meta.dir, "../../src/cli.ts");

/** A worker as GET /api/workers shows it. */
export interface WorkerJson {
  index: number;
  pid: number | null;
  state: string;
  restarts: number;
  since: string;
}

export type LogLine = Record<string, unknown> & { msg?: string; worker?: number };

export interface WorkersServer {
  readonly process: Child;
  readonly port: number;
  readonly httpPort: number;
  /** Every JSON line it (and its workers) wrote so far. */
  logs(): LogLine[];
  /** Resolves once a log line from now on matches. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number, from?: number): Promise<LogLine>;
  /** GET http://127.0.0.1:HTTP/PATH as JSON (any worker may answer). */
  api<T>(path: string): Promise<T>;
  workers(): Promise<WorkerJson[]>;
  rtmpUrl(name: string): string;
}

export interface StartOptions {
  /** The log message that says it serves: "workers serving" (every worker listens) by default. */
  ready?: string;
  /** The executable and its first arguments: `bun src/cli.ts` by default. */
  command?: string[];
}

/**
 * Starts `rtmp-server --config FILE` with RTMP and HTTP on free ports and `yaml` (more top-level lines) in its
 * config; resolves once it serves.
 */
export async function startWorkersServer(children: Children, dir: string, yaml: string[], options: StartOptions = {}): Promise<WorkersServer> {
  const { ready = "workers serving", command = ["bun", CLI] } = options;
  const port = freePort();
  const httpPort = freePort();
  const config = join(dir, `workers-${port}.yaml`);
  writeFileSync(config, [`listen: "127.0.0.1:${port}"`, "http:", `  listen: "127.0.0.1:${httpPort}"`, ...yaml, ""].join("\n"));
  const child = children.spawn(`rtmp-server :${port}`, [...command, "--config", config]);
  const logs = () => logLines(child);
  const server: WorkersServer = {
    process: child,
    port,
    httpPort,
    logs,
    async waitForLog(match, what, timeoutMs = 10_000, from = 0) {
      let found: LogLine | undefined;
      await waitFor(() => (found = logs().slice(from).find(match)) !== undefined, timeoutMs, what, () => child.describe());
      return found!;
    },
    async api<T>(path: string): Promise<T> {
      const response = await fetch(`http://127.0.0.1:${httpPort}${path}`);
      expect(response.status, path).toBe(200);
      return (await response.json()) as T;
    },
    async workers() {
      return (await server.api<{ workers: WorkerJson[] }>("/api/workers")).workers;
    },
    rtmpUrl: (name) => `rtmp://127.0.0.1:${port}/live/${name}`,
  };
  await waitFor(() => !child.running || logs().some((l) => l.msg === ready), 15_000, ready, () => child.describe());
  expect(child.running, child.describe()).toBe(true);
  return server;
}

/** What a test starts: the servers' processes and FFmpeg (in `children`), its RTMP clients, its scratch files. */
export class WorkersTest extends Scope {
  readonly scratch: ReturnType<typeof scratchDir>;
  readonly clients: RawRtmpClient[] = [];

  constructor(label: string) {
    super();
    this.scratch = scratchDir(label);
    this.defer(() => this.scratch.remove());
    this.defer(() => this.clients.splice(0).forEach((client) => client.close()));
  }

  /** startWorkersServer() in the test's directory. */
  start(yaml: string[], options?: StartOptions): Promise<WorkersServer> {
    return startWorkersServer(this.children, this.scratch.path, yaml, options);
  }
}

function logLines(child: Child): LogLine[] {
  return child.stdout.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

/** Whether a process with this pid exists (a reaped one does not). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of `pid`'s children (those of any of its threads), from /proc. */
export function childPids(pid: number): number[] {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
}
