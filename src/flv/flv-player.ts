/**
 * One HTTP-FLV or WS-FLV player: a connection in the table and a player in the registry like an RTMP one
 * (same outbox, lag policy, write timeout and idle rule), whose bytes are an FLV file header and then one
 * FLV tag per frame, written to a sink (a chunked HTTP response or a WebSocket). Its stream ending ends it.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { FlvLayout } from "../media/flv.ts";
import type { AccessCheck, AuthDecision, AuthRequest } from "../shared/access.ts";
import type { Connection, ConnectionTable } from "../shared/connections.ts";
import type { Peer, Playback, StreamHub } from "../shared/hub.ts";
import { LINGER_MS, Lifecycle, Phase } from "../shared/lifecycle.ts";
import { Outbox, type Writable } from "../shared/outbox.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import type { StreamName } from "../shared/stream-name.ts";

/** What a sink reports to the player it carries. */
export interface SinkOwner {
  /** The connection can take more after a short write. */
  onDrain(now: number): void;
  /** The connection is closed (the peer left, or the sink ended). */
  gone(): void;
}

/** Where a player's bytes go. Writes follow Writable: a short count means "blocked until onDrain". */
export interface FlvSink extends Writable {
  bind(owner: SinkOwner): void;
  /** Finish after what was written (the response ends, the WebSocket closes normally). */
  end(): void;
  /** Cut the connection without waiting for the peer to take anything more. */
  abort(): void;
}

export interface PlayerSettings {
  /** timeouts.write: a player whose connection takes nothing this long is dropped. */
  writeMs: number;
  /** timeouts.read: a player that neither sends nor takes a byte this long is idle and closed. */
  readMs: number;
}

export interface PlayerContext {
  hub: StreamHub;
  events: EventChannel;
  stats: ServerStats;
  log: Logger;
  connections: ConnectionTable;
  /** The connection is gone: forget it. */
  onClosed(player: FlvPlayer): void;
}

/** Every FLV player lays frames out the same way, and the layout holds no state: one for all. */
const FLV_LAYOUT = new FlvLayout();

/**
 * Its lifecycle (src/shared/lifecycle.ts) is Opening while the endpoint checks access and waits for the
 * stream (it bounds that wait itself: a 404 after timeouts.handshake), Serving once the response or the
 * WebSocket is up. Ending the sink is its half-close, after which the connection is over; a discarding
 * close cuts it.
 */
export class FlvPlayer implements Peer, Connection, SinkOwner {
  readonly outbox: Outbox;
  readonly log: Logger;
  readonly role = "player";
  /** An FLV player never publishes, so nothing it sends was relayed. */
  readonly relayHops = 0;
  readonly since = Date.now();
  bytesIn = 0;
  private readonly life: Lifecycle;
  private readonly hub: StreamHub;
  private playback: Playback | null = null;
  private readonly closed = Promise.withResolvers<void>();

  constructor(
    readonly id: string,
    readonly protocol: "http-flv" | "ws-flv",
    readonly remoteAddress: string,
    readonly name: StreamName,
    sink: FlvSink,
    context: PlayerContext,
    settings: PlayerSettings,
  ) {
    this.log = context.log.child({ conn_id: id, stream_key: name.key });
    this.outbox = new Outbox(sink);
    this.hub = context.hub;
    const { connections: table, stats, events } = context;
    this.life = new Lifecycle(
      {
        outbox: this.outbox,
        discardCuts: true,
        release: () => {
          this.playback?.end();
          this.playback = null;
        },
        halfClose: () => {
          sink.end();
          this.gone();
        },
        cut: () => {
          sink.abort();
          this.gone();
        },
      },
      { startMs: Infinity, readMs: settings.readMs, writeMs: settings.writeMs, lingerMs: LINGER_MS },
      { connection: this, table, log: this.log, stats, events, forget: () => context.onClosed(this) },
    );
    sink.bind(this);
  }

  /** Settles once the connection is gone. */
  get ended(): Promise<void> {
    return this.closed.promise;
  }

  get streamKey(): string {
    return this.name.key;
  }

  get bytesOut(): number {
    return this.outbox.bytesSent;
  }

  get lastReadAt(): number {
    return this.life.lastReadAt;
  }

  /** Still accepted and not refused, closed or gone. */
  get pending(): boolean {
    return this.life.phase === Phase.Opening;
  }

  /** The play access check (Lifecycle.authorize: counted, and a refusal logged and announced). */
  authorize(access: AccessCheck, request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    return this.life.authorize(access, request);
  }

  /** Start playing: the FLV file header, then whatever the stream replays (metadata, headers, GOP) and sends. */
  start(fileHeader: Uint8Array): void {
    if (this.life.phase !== Phase.Opening) return;
    this.life.serve();
    this.outbox.push(fileHeader);
    this.playback = this.hub.play(this, this.name, 0, FLV_LAYOUT);
  }

  /** Bytes from the peer (WebSocket messages): they prove it alive, nothing more. */
  received(bytes: number): void {
    this.life.received(bytes);
    this.bytesIn += bytes;
  }

  /** A fresh publisher is never announced to an FLV player (it only starts on a live stream); an end ends it. */
  publishChanged(_streamId: number, _streamKey: string, published: boolean): void {
    if (!published) this.close("stream ended");
  }

  /**
   * End the stream's playback, hand what is queued to the connection, then end it; with `discard` (a queue
   * past its hard bound), cut it instead: what is queued is not worth the wait.
   */
  close(reason: string, discard = false): void {
    this.life.close(reason, discard);
  }

  /** Cut the connection now (nothing it could still take matters). */
  abort(reason: string): void {
    this.life.abort(reason);
  }

  onDrain(now: number): void {
    this.life.drained(now);
  }

  /** The sweep: a stuck write, an idle connection, a close that lingers. */
  tick(now: number): void {
    this.life.check(now);
  }

  /** The connection closed (the peer left, or we ended it): the one place a player ends. */
  gone(): void {
    this.life.ended();
    this.closed.resolve();
  }
}
