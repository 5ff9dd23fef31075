/**
 * One HLS viewer: a session of requests (the same stream, client address, user agent and query) that is a
 * connection like any other (in the table, its access checked, play_start and play_stop with protocol
 * "hls", closable through the API) and ends once it has asked nothing for its idle time. It has no bytes of
 * its own to queue: its lifecycle is the shared one without an outbox.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { AccessCheck, AuthDecision, AuthRequest } from "../shared/access.ts";
import type { Connection, ConnectionTable } from "../shared/connections.ts";
import { Lifecycle, Phase } from "../shared/lifecycle.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import type { StreamName } from "../shared/stream-name.ts";

export interface ViewerContext {
  events: EventChannel;
  stats: ServerStats;
  log: Logger;
  connections: ConnectionTable;
  /** The session is over: forget it. */
  onEnded(viewer: HlsViewer): void;
}

export class HlsViewer implements Connection {
  readonly protocol = "hls";
  readonly role = "player";
  readonly since = Date.now();
  readonly bytesIn = 0;
  bytesOut = 0;
  readonly outbox = null;
  readonly log: Logger;
  /** Requests being answered (a blocking one may wait): never idle meanwhile. */
  inFlight = 0;
  private playingSince: number | null = null;
  private readonly life: Lifecycle;
  private readonly events: EventChannel;

  constructor(
    readonly id: string,
    readonly remoteAddress: string,
    readonly name: StreamName,
    /** What its requests have in common: how the endpoint finds it. */
    readonly sessionKey: string,
    context: ViewerContext,
    /** Silent this long (no request), the viewer has left. */
    idleMs: number,
  ) {
    this.log = context.log.child({ conn_id: id, stream_key: name.key });
    const { connections: table, stats, events } = context;
    this.events = events;
    this.life = new Lifecycle(
      {
        outbox: null,
        discardCuts: false,
        release: () => this.stopPlaying(),
        halfClose: () => this.life.ended(),
        cut: () => this.life.ended(),
      },
      { startMs: Infinity, readMs: idleMs, writeMs: Infinity, lingerMs: 0 },
      { connection: this, table, log: this.log, stats, events, forget: () => context.onEnded(this) },
    );
  }

  get streamKey(): string {
    return this.name.key;
  }

  /** Not closed: it may still be served. */
  get open(): boolean {
    return this.life.phase < Phase.Closing;
  }

  get playing(): boolean {
    return this.playingSince !== null;
  }

  /** The play access check (counted, and a refusal logged and announced). */
  authorize(access: AccessCheck, request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    return this.life.authorize(access, request);
  }

  /** A request came: the viewer is alive. */
  asked(): void {
    this.life.received(0);
  }

  /** The stream is there and the viewer allowed: it plays from now on. */
  play(): void {
    if (this.playingSince !== null || !this.open) return;
    this.life.serve();
    this.playingSince = performance.now();
    this.log.info("play start", { remote_addr: this.remoteAddress, protocol: this.protocol });
    this.events.emit("play_start", { connId: this.id, streamKey: this.name.key }, { app: this.name.app, protocol: this.protocol });
  }

  /** A reply went out with `bytes` of body (its request's end, asked(), keeps the viewer alive). */
  served(bytes: number): void {
    this.bytesOut += bytes;
  }

  close(reason: string): void {
    this.life.close(reason);
  }

  tick(now: number): void {
    if (this.inFlight === 0) this.life.check(now);
  }

  private stopPlaying(): void {
    const since = this.playingSince;
    if (since === null) return;
    this.playingSince = null;
    const durationMs = Math.round(performance.now() - since);
    this.log.info("play stop", { duration_ms: durationMs, protocol: this.protocol });
    this.events.emit("play_stop", { connId: this.id, streamKey: this.name.key }, { duration_sec: durationMs / 1000, dropped: 0, protocol: this.protocol });
  }
}
