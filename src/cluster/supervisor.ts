/**
 * The first process of `workers` > 1: it serves nothing itself. It starts the workers (this same executable,
 * told which worker it is), restarts one that dies (with a backoff), passes SIGHUP on, stops them all within
 * timeouts.shutdown, keeps the stream registry for them (without Redis), and carries their questions to each
 * other so that any worker's API and /metrics can describe the whole server.
 */
import type { Subprocess } from "bun";
import type { Logger } from "../logger.ts";
import { hostPort } from "../shared/host-port.ts";
import { PendingReplies } from "./pending-replies.ts";
import { SupervisorClaims } from "./supervisor-claims.ts";
import { SIBLING_WAIT_MS } from "./worker-channel.ts";
import { type SiblingAnswers, type SiblingQuery, type ToWorker, type WorkerCall, type WorkerInfo, toSupervisor } from "./worker-messages.ts";
import { encodeWorkerStart, type SharedPorts, WORKER_ENV } from "./worker-node.ts";

/** A worker that does not say it serves within this is killed (and the start fails, or it is restarted). */
const START_TIMEOUT_MS = 30_000;
/** Restart delays: the first, doubling per death in a row, up to the last. */
const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A worker that served this long before it died is restarted after the first delay again. */
const STABLE_MS = 30_000;
/** A worker ends itself at timeouts.shutdown + 1 s at the latest: after this much more it is killed. */
const STOP_GRACE_MS = 2_000;
/** How much longer than timeouts.shutdown the supervisor's stop may take: the grace, then the kill. */
export const SUPERVISOR_STOP_MARGIN_MS = STOP_GRACE_MS + 1_000;
/** Sibling queries waiting for an answer at once; past it a sibling counts as not answering. */
const MAX_PENDING_QUERIES = 4096;

export interface SupervisorSettings {
  /** Workers to run (`workers`, 0 resolved to the core count). */
  count: number;
  /** What starts one worker: this process's own executable and arguments. */
  command: string[];
  /** This process's environment; each worker gets it and WORKER_ENV. */
  env: Record<string, string | undefined>;
  ports: SharedPorts;
  /** The workers' cluster.secret when the operator set none ("" = theirs). */
  secret: string;
  /** timeouts.shutdown: what each worker's graceful stop may take. */
  shutdownMs: number;
}

interface Slot {
  readonly index: number;
  proc: Subprocess | null;
  state: WorkerInfo["state"];
  restarts: number;
  /** Deaths in a row, each soon after its start: the restart backoff. */
  failures: number;
  since: number;
  startedAt: number;
  httpPort: number | null;
  /** Settles the current start: true once the worker serves, false if it exits or times out first. */
  started: ((ok: boolean) => void) | null;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves when the current process has exited. */
  exited: Promise<number>;
}

export class Supervisor {
  private readonly slots: Slot[];
  private readonly claims = new SupervisorClaims();
  private readonly queries = new PendingReplies(MAX_PENDING_QUERIES, SIBLING_WAIT_MS, MISSING);
  private stopping = false;

  constructor(
    private readonly settings: SupervisorSettings,
    private readonly log: Logger,
  ) {
    this.slots = Array.from({ length: settings.count }, (_, index) => ({
      index,
      proc: null,
      state: "starting",
      restarts: 0,
      failures: 0,
      since: 0,
      startedAt: 0,
      httpPort: null,
      started: null,
      restartTimer: undefined,
      exited: Promise.resolve(0),
    }));
  }

  /** Starts every worker: true once all serve; false if one fails first (the others are stopped then). */
  async start(): Promise<boolean> {
    this.log.info("starting workers", { workers: this.settings.count, ports: this.settings.ports });
    const results = await Promise.all(this.slots.map((slot) => this.spawn(slot)));
    // Stopping already (a signal during the start): the stop that was asked for ends it.
    if (this.stopping || results.every(Boolean)) return true;
    await this.stop();
    return false;
  }

  /** SIGHUP to every serving worker (one still starting reads its files anyway, and has no handler yet). */
  reload(): void {
    for (const slot of this.slots) if (slot.state === "running") slot.proc?.kill("SIGHUP");
  }

  /** Asks every worker to stop; true if all exited cleanly within timeouts.shutdown (the rest are killed). */
  async stop(): Promise<boolean> {
    this.stopping = true;
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.state = "stopping";
      this.send(slot, { t: "stop" });
    }
    const all = Promise.all(this.slots.map((slot) => slot.exited));
    const codes = await Promise.race([all, Bun.sleep(this.settings.shutdownMs + STOP_GRACE_MS).then(() => null)]);
    if (codes !== null) return codes.every((code) => code === 0);
    this.log.error("workers did not stop in time: killing them", { pids: this.slots.flatMap((s) => (s.proc === null ? [] : [s.proc.pid])) });
    this.kill();
    await all;
    return false;
  }

  /** Kills every worker at once (a second signal, or this process exiting). */
  kill(): void {
    for (const slot of this.slots) slot.proc?.kill("SIGKILL");
  }

  private spawn(slot: Slot): Promise<boolean> {
    const { count, ports, secret, command, env } = this.settings;
    const proc = Bun.spawn(command, {
      env: { ...env, [WORKER_ENV]: encodeWorkerStart({ index: slot.index, count, ports, secret }) },
      stdio: ["ignore", "inherit", "inherit"],
      serialization: "json",
      ipc: (message) => this.receive(slot, message),
    });
    slot.proc = proc;
    slot.state = "starting";
    slot.since = Date.now();
    slot.startedAt = performance.now();
    slot.exited = proc.exited.then((code) => {
      this.exited(slot, proc, code);
      return code;
    });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.log.error("worker did not start in time: killing it", { worker: slot.index, pid: proc.pid, timeout_ms: START_TIMEOUT_MS });
        proc.kill("SIGKILL");
      }, START_TIMEOUT_MS);
      slot.started = (ok) => {
        clearTimeout(timer);
        slot.started = null;
        resolve(ok);
      };
    });
  }

  private exited(slot: Slot, proc: Subprocess, code: number): void {
    if (slot.proc !== proc) return;
    slot.proc = null;
    slot.httpPort = null;
    this.claims.leave(slot.index);
    const wasStarting = slot.started !== null;
    slot.started?.(false);
    if (this.stopping) return;
    const fields = { worker: slot.index, pid: proc.pid, code: proc.exitCode, signal: proc.signalCode ?? undefined };
    if (wasStarting && slot.restarts === 0) {
      // The first start: the CLI stops the others and exits 1 (the worker said why on stderr).
      this.log.error("worker failed to start", { ...fields, exit: code });
      return;
    }
    slot.failures = performance.now() - slot.startedAt >= STABLE_MS ? 0 : slot.failures + 1;
    const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** Math.max(0, slot.failures - 1));
    slot.state = "restarting";
    this.log.error("worker exited: restarting it", { ...fields, restart_in_ms: delay });
    slot.restartTimer = setTimeout(() => {
      slot.restarts++;
      void this.spawn(slot).then((ok) => {
        if (ok) this.log.info("worker restarted", { worker: slot.index, pid: slot.proc?.pid, restarts: slot.restarts });
      });
    }, delay);
  }

  private receive(slot: Slot, raw: unknown): void {
    const message = toSupervisor(raw);
    if (message === null) {
      this.log.warn("supervisor: ignoring a malformed message from a worker", { worker: slot.index });
      return;
    }
    if (message.t === "ready") {
      slot.httpPort = message.httpPort;
      if (!this.stopping) slot.state = "running";
      // A worker that started while the stop went out may have missed it.
      else this.send(slot, { t: "stop" });
      slot.started?.(true);
    } else if (message.t === "answer") {
      this.queries.settle(message.id, message.result);
    } else {
      void this.call(slot, message.call).then((result) => this.send(slot, { t: "reply", id: message.id, result }));
    }
  }

  private async call(slot: Slot, call: WorkerCall): Promise<unknown> {
    switch (call.op) {
      case "node":
        this.claims.join(slot.index, { nodeId: call.nodeId, advertise: call.advertise });
        return null;
      case "claim": {
        const outcome = this.claims.claim(slot.index, call.key, call.replace);
        if (!outcome.ok) return outcome;
        if (outcome.displaced !== null) this.send(this.slots[outcome.displaced], { t: "lost", key: call.key });
        return { ok: true };
      }
      case "release":
        this.claims.release(slot.index, call.key);
        return null;
      case "lookup":
        return this.claims.lookup(slot.index, call.key);
      case "nodes":
        return this.claims.list();
      case "leave":
        this.claims.leave(slot.index);
        return null;
      case "workers":
        return this.slots.map((s): WorkerInfo => ({ index: s.index, pid: s.proc?.pid ?? null, state: s.state, restarts: s.restarts, since: s.since, httpPort: s.httpPort }));
      case "ask":
        return this.ask(slot, call.query, call.to);
    }
  }

  /** Every other worker's (or worker `to`'s) answer within SIBLING_WAIT_MS; a null answer counts as none. */
  private async ask(from: Slot, query: SiblingQuery, to: number | null): Promise<SiblingAnswers> {
    const targets = this.slots.filter((s) => s !== from && (to === null || s.index === to));
    const results = await Promise.all(targets.map((s) => this.query(s, query)));
    const answers: { worker: number; result: unknown }[] = [];
    const missing: number[] = [];
    targets.forEach((s, i) => (results[i] === MISSING || results[i] === null ? missing.push(s.index) : answers.push({ worker: s.index, result: results[i] })));
    return { answers, missing };
  }

  private query(slot: Slot, query: SiblingQuery): Promise<unknown> {
    if (slot.state !== "running") return Promise.resolve(MISSING);
    return this.queries.wait((id) => this.send(slot, { t: "query", id, query }));
  }

  /** False if it cannot go (the worker is exiting: its exit is handled on its own). */
  private send(slot: Slot, message: ToWorker): boolean {
    try {
      slot.proc?.send(message);
      return slot.proc !== null;
    } catch {
      return false;
    }
  }
}

const MISSING = Symbol("missing");

type Address = { readonly host: string; readonly port: number };

/**
 * The public ports, checked before any worker binds them: each must be free, since a port another server
 * holds with SO_REUSEPORT would be joined silently. Port 0 is resolved here, so that the workers share one.
 */
export function reserveSharedPorts(addresses: { rtmp: Address; rtmps: Address | null; http: Address | null }): SharedPorts {
  const reserve = (address: Address, what: string): number => {
    try {
      const probe = Bun.listen({ hostname: address.host, port: address.port, socket: { data() {} } });
      const port = probe.port;
      probe.stop(true);
      return port;
    } catch (e) {
      throw new Error(`cannot listen on ${hostPort(address.host, address.port)} (${what}): ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const { rtmp, rtmps, http } = addresses;
  return { rtmp: reserve(rtmp, "rtmp"), rtmps: rtmps && reserve(rtmps, "rtmps"), http: http && reserve(http, "http") };
}
