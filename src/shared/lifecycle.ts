/**
 * The one lifecycle of every connection, whatever carries it (an RTMP socket, an HTTP-FLV response, a WS-FLV
 * socket, an outbound RTMP client; an HLS session has no bytes of its own but the same steps):
 *
 *   Opening --serve()--> Serving --close(reason)--> Closing --ended()--> Closed
 *
 * Opening: accepted (or dialling) and not serving yet; only the start deadline runs. Serving: the idle rule
 * and the write timeout run, except while an access answer is awaited. Closing: what the connection served
 * is released, its queue flushed (or discarded), our side half-closed, and the peer has `lingerMs` to close
 * its side before the connection is cut. Closed: reported once (one summary line at close, one
 * connection_close at the end) and out of the table.
 * Who moves it: its connection (serve() once its start is done, ended() from its transport's close event),
 * whoever may end a connection (close()/abort(): the connection itself, the registry through Peer.close, the
 * API and the shutdown through the table), and the server's one sweep (check()).
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { AccessCheck, AuthDecision, AuthRequest } from "./access.ts";
import type { Connection, ConnectionTable } from "./connections.ts";
import type { Outbox } from "./outbox.ts";
import type { ServerStats } from "./server-stats.ts";

export const Phase = { Opening: 0, Serving: 1, Closing: 2, Closed: 3 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** How long a closing connection may take to hand over what is queued (and see the peer close) before it is cut. */
export const LINGER_MS = 5000;

export interface Deadlines {
  /** timeouts.handshake: how long Opening may last (Infinity for a connection that bounds its start itself). */
  startMs: number;
  /** timeouts.read: silent both ways this long is idle. */
  readMs: number;
  /** timeouts.write: bytes waiting and none taken by the peer this long is a stuck write. */
  writeMs: number;
  /** How long Closing may last before the connection is cut. */
  lingerMs: number;
}

/** What a connection's transport does for its lifecycle. */
export interface LifecycleHost {
  /** What is queued for the peer; null while there is none (not connected yet, or no byte stream at all). */
  readonly outbox: Outbox | null;
  /**
   * What a discarding close does: cut (an HTTP response: Bun may hold a chunk that never goes) rather than
   * half-close (a socket: the kernel still delivers what it holds).
   */
  readonly discardCuts: boolean;
  /** Closing began, or the peer left first: end what the connection serves (publications, playbacks). Once. */
  release(): void;
  /** Everything queued is handed over: end our side (a FIN, the response's end). Its close calls ended(). */
  halfClose(): void;
  /** Drop the connection now, sending nothing more, for `reason`. Its close calls ended(). */
  cut(reason: string): void;
  /** Ask a quiet peer whether it is alive (RTMP's ping); without it, silence alone decides. */
  probe?(now: number): void;
}

/** A connection the server accepted: in the table, counted, logged and announced. */
export interface Account {
  readonly connection: Connection;
  readonly table: ConnectionTable;
  /** The connection's own logger (its conn_id). */
  readonly log: Logger;
  readonly stats: ServerStats;
  readonly events: EventChannel;
  /** The connection is over: whoever else keeps it (its endpoint) lets it go. */
  forget?(): void;
}

export class Lifecycle {
  /** performance.now() at open: the start deadline's clock and the summary's. */
  readonly startedAt = performance.now();
  private current: Phase = Phase.Opening;
  private readAt = this.startedAt;
  private finSent = false;
  private awaiting = 0;
  /** When the probe of a quiet peer went out (0: none pending), and the outbox's progress just before it. */
  private probeSentAt = 0;
  private progressAtProbe = 0;
  private lingerTimer: ReturnType<typeof setTimeout> | null = null;

  /** Opens the connection: an accepted one joins the table and is announced (connection_accept). */
  constructor(
    private readonly host: LifecycleHost,
    private readonly deadlines: Deadlines,
    private readonly account: Account | null,
  ) {
    if (account === null) return;
    const { connection: c, table, log, events } = account;
    table.add(c);
    log.debug("connection accepted", { remote_addr: c.remoteAddress, protocol: c.protocol });
    events.emit("connection_accept", { connId: c.id }, { remote_addr: c.remoteAddress, protocol: c.protocol });
  }

  get phase(): Phase {
    return this.current;
  }

  /** performance.now() of the last byte received: half of the idle rule, and a publisher's staleness. */
  get lastReadAt(): number {
    return this.readAt;
  }

  /** Our side is half-closed: nothing more can be sent. */
  get halfClosed(): boolean {
    return this.finSent;
  }

  /** Access answers awaited: the idle and write deadlines wait with them. */
  get awaitingAccess(): number {
    return this.awaiting;
  }

  /** The start is done (handshake, response, connect reply): a serving connection's deadlines apply. */
  serve(): void {
    if (this.current === Phase.Opening) this.current = Phase.Serving;
  }

  /** Bytes from the peer: they prove it alive. */
  received(bytes: number, now = performance.now()): void {
    this.readAt = now;
    if (this.account !== null) this.account.stats.bytesIn += bytes;
  }

  /** The transport can take more: write what waits, and half-close a closing connection once it is all out. */
  drained(now: number): void {
    this.host.outbox?.drain(now);
    if (this.current === Phase.Closing) this.halfCloseWhenFlushed();
  }

  /** The one deadline check, from the server's sweep: start, stuck write, idle. */
  check(now: number): void {
    if (this.current === Phase.Opening) {
      if (now - this.startedAt > this.deadlines.startMs) this.close("handshake timeout");
      return;
    }
    // Reading is paused while an access answer is awaited: silence then proves nothing about the peer.
    if (this.current !== Phase.Serving || this.awaiting > 0) return;
    const { readMs, writeMs } = this.deadlines;
    const outbox = this.host.outbox;
    if (outbox !== null && outbox.blockedSince !== 0 && now - outbox.blockedSince > writeMs) {
      return this.close(`write timeout: the peer took no bytes for ${writeMs} ms`, true);
    }
    if (this.probeSentAt !== 0 && this.readAt >= this.probeSentAt) this.probeSentAt = 0;
    const silent = now - this.lastSign();
    if (silent > readMs) return this.close(`idle for ${readMs} ms`);
    // A live peer answers a probe: asked after half the budget, it has the other half to prove itself.
    if (silent > readMs / 2 && this.probeSentAt === 0 && this.host.probe !== undefined) {
      this.probeSentAt = now;
      this.progressAtProbe = outbox?.lastProgress ?? 0;
      this.host.probe(now);
    }
  }

  /**
   * Close from our side: release what the connection serves, hand what is queued to the transport (a
   * rejection's status, say), then half-close and give the peer `lingerMs` to close its side. Not an abrupt
   * end: a reset throws away what the peer has not read yet. With `discard`, what is queued is thrown away
   * instead: a peer dropped for not reading gets nothing more than the transport already holds for it.
   */
  close(reason: string, discard = false): void {
    if (this.current >= Phase.Closing) return;
    if (discard && this.host.discardCuts) return this.abort(reason);
    this.leave(reason);
    this.lingerTimer = setTimeout(() => this.abort("close timed out"), this.deadlines.lingerMs);
    this.lingerTimer.unref();
    if (discard) this.host.outbox?.close();
    else this.host.outbox?.flush();
    this.halfCloseWhenFlushed();
  }

  /** Cut now, sending nothing more: the linger ran out, a shutdown's deadline passed, or a discard that cuts. */
  abort(reason: string): void {
    if (this.current === Phase.Closed) return;
    if (this.current === Phase.Closing) this.account?.log.debug("connection cut", { reason });
    else this.leave(reason);
    this.host.cut(reason);
    this.host.outbox?.close();
  }

  /** The transport closed (the peer left, or we ended it): the one place a connection ends. */
  ended(): void {
    if (this.current === Phase.Closed) return;
    if (this.current !== Phase.Closing) this.leave("peer closed");
    this.current = Phase.Closed;
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.host.outbox?.close();
    const account = this.account;
    if (account === null) return;
    const { connection: c, stats, events } = account;
    stats.closedBytesOut += c.bytesOut;
    events.emit(
      "connection_close",
      { connId: c.id, streamKey: c.streamKey === "" ? undefined : c.streamKey },
      {
        role: c.role,
        protocol: c.protocol,
        duration_sec: Math.round(performance.now() - this.startedAt) / 1000,
        bytes_in: c.bytesIn,
        bytes_out: c.bytesOut,
      },
    );
    account.table.delete(c);
    account.forget?.();
  }

  /**
   * The (auth) step, the same for every kind of connection: ask `access`; an allowed action is counted, a
   * refused one counted, logged and announced (auth_failed). Synchronous when the check is. A check that
   * fails is a refusal. An answer that comes after the connection closed is not counted: nobody is left to
   * refuse.
   */
  authorize(access: AccessCheck, request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    let decision: AuthDecision | Promise<AuthDecision>;
    try {
      decision = access.check(request);
    } catch (e) {
      decision = this.checkFailed(e);
    }
    if (!(decision instanceof Promise)) return this.decided(request, decision);
    this.awaiting++;
    return decision
      .catch((e: unknown) => this.checkFailed(e))
      .then((answer) => {
        this.awaiting--;
        return this.decided(request, answer);
      });
  }

  /** Closing begins (or the peer left first): the summary line, then what the connection served is released. */
  private leave(reason: string): void {
    const account = this.account;
    if (account !== null) {
      const { connection: c, log } = account;
      const duration_ms = Math.round(performance.now() - this.startedAt);
      log.info("connection closed", { reason, duration_ms, bytes_in: c.bytesIn, bytes_out: c.bytesOut });
    }
    this.current = Phase.Closing;
    this.host.release();
  }

  /**
   * The one idle rule, "silent both ways": the last time the peer sent a byte or took one of ours. While a
   * probe is out, what the peer took since does not count: our own probe taken by the kernel proves nothing.
   */
  private lastSign(): number {
    const taken = this.probeSentAt === 0 ? (this.host.outbox?.lastProgress ?? 0) : this.progressAtProbe;
    return Math.max(this.readAt, taken);
  }

  private halfCloseWhenFlushed(): void {
    if (this.finSent || !(this.host.outbox?.empty ?? true)) return;
    this.finSent = true;
    this.host.halfClose();
  }

  private checkFailed(e: unknown): AuthDecision {
    this.account?.log.error("access check failed", { error: e instanceof Error ? e.message : String(e) });
    return { allowed: false, reason: "access check failed" };
  }

  private decided(request: AuthRequest, decision: AuthDecision): AuthDecision {
    const account = this.account;
    if (account === null || this.current >= Phase.Closing) return decision;
    if (decision.allowed) {
      account.stats.authAllowed++;
      return decision;
    }
    // Published on another node: a conflict, which the cluster layer logs, not a failed authentication.
    if (decision.inUse === true) return decision;
    account.stats.authDenied++;
    const { connection: c, log, events } = account;
    const { action, streamKey } = request;
    const { reason } = decision;
    log.warn(`${action} refused: not authorized`, { stream_key: streamKey, reason, remote_addr: c.remoteAddress, protocol: c.protocol });
    events.emit("auth_failed", { connId: c.id, streamKey }, { action, reason, remote_addr: c.remoteAddress });
    return decision;
  }
}
