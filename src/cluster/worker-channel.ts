/**
 * A worker's end of the IPC channel to its supervisor: calls that each get one reply (or null once their
 * bound has passed, or the supervisor is gone), the queries siblings send through the supervisor, answered by
 * whatever the HTTP layer registered, and the supervisor's notices (a claim lost to another worker, stop).
 */
import type { Logger } from "../logger.ts";
import { PendingReplies } from "./pending-replies.ts";
import { type SiblingAnswers, type SiblingQuery, type ToSupervisor, type WorkerCall, type WorkerInfo, toWorker } from "./worker-messages.ts";

/** How long a call waits for the supervisor's reply. Above SIBLING_WAIT_MS: an ask includes the siblings' wait. */
const CALL_TIMEOUT_MS = 2_000;
/** How long the supervisor waits for siblings' answers before it replies without the late ones. */
export const SIBLING_WAIT_MS = 500;
/** Calls waiting for a reply at once; past it a call resolves null at once. */
const MAX_PENDING_CALLS = 4096;

export type QueryHandler = (query: SiblingQuery) => unknown;

export class WorkerChannel {
  private readonly pending = new PendingReplies(MAX_PENDING_CALLS, CALL_TIMEOUT_MS, null);
  private closed = false;
  private queryHandler: QueryHandler | null = null;
  /** A claim this worker held was taken by another worker (publish_conflict: replace). */
  onLost: ((key: string) => void) | null = null;
  /** The supervisor asks this worker to stop (its own SIGTERM, SIGINT). */
  onStop: (() => void) | null = null;
  /** This worker's own loopback HTTP port, where its siblings pass requests on; told the supervisor in ready(). */
  httpPort: number | null = null;

  constructor(
    /** This worker's index, 0..workers-1. */
    readonly index: number,
    /** How many workers the server runs. */
    readonly count: number,
    private readonly send: (message: ToSupervisor) => void,
    private readonly log: Logger,
  ) {}

  /** True until the supervisor is gone. */
  get open(): boolean {
    return !this.closed;
  }

  /** The supervisor's reply to `call`, or null when it did not come within CALL_TIMEOUT_MS or cannot come. */
  call(call: WorkerCall): Promise<unknown> {
    return this.pending.wait((id) => this.post({ t: "call", id, call }));
  }

  /** Every other worker's answer to `query` (`to`: only that one), those that did not answer listed as missing. */
  async ask(query: SiblingQuery, to: number | null = null): Promise<SiblingAnswers> {
    const reply = (await this.call({ op: "ask", query, to })) as SiblingAnswers | null;
    if (reply !== null) return reply;
    const others = to === null ? [...Array(this.count).keys()].filter((i) => i !== this.index) : [to];
    return { answers: [], missing: others };
  }

  /** The workers as the supervisor sees them (empty if it does not answer). */
  async workers(): Promise<WorkerInfo[]> {
    return ((await this.call({ op: "workers" })) as WorkerInfo[] | null) ?? [];
  }

  /** What answers siblings' queries (the HTTP layer: this worker's streams, connections, metrics). */
  answer(handler: QueryHandler): void {
    this.queryHandler = handler;
  }

  /** Tells the supervisor this worker is serving. */
  ready(): void {
    this.post({ t: "ready", httpPort: this.httpPort });
  }

  /** One message from the supervisor. */
  receive(raw: unknown): void {
    const message = toWorker(raw);
    if (message === null) {
      this.log.warn("worker: ignoring a malformed message from the supervisor");
      return;
    }
    if (message.t === "reply") this.pending.settle(message.id, message.result);
    else if (message.t === "query") void this.answerQuery(message.id, message.query);
    else if (message.t === "lost") this.onLost?.(message.key);
    else this.onStop?.();
  }

  /** The supervisor is gone: calls waiting for it get null, later ones at once. */
  close(): void {
    this.closed = true;
    this.pending.settleAll();
  }

  private async answerQuery(id: number, query: SiblingQuery): Promise<void> {
    let result: unknown = null;
    try {
      result = (await this.queryHandler?.(query)) ?? null;
    } catch (e) {
      this.log.error("worker: answering a sibling's query failed", { what: query.what, error: e instanceof Error ? e.message : String(e) });
    }
    this.post({ t: "answer", id, result });
  }

  private post(message: ToSupervisor): boolean {
    if (this.closed) return false;
    try {
      this.send(message);
      return true;
    } catch {
      // The channel closed under us: the disconnect notice follows.
      return false;
    }
  }
}
