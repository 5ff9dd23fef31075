/**
 * One HTTP-FLV or WS-FLV player: a connection in the table and a player in the registry like an RTMP one
 * (same outbox, lag policy, write timeout and idle rule), whose bytes are an FLV file header and then one
 * FLV tag per frame, written to a sink (a chunked HTTP response or a WebSocket). Its stream ending ends it.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { FlvLayout } from "../media/flv.ts";
import { type Connection, connectionSummary, LINGER_MS, reportConnectionClosed } from "../shared/connections.ts";
import type { Peer, Playback, StreamHub } from "../shared/hub.ts";
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
  /** The connection is gone: forget it. */
  onClosed(player: FlvPlayer): void;
}

/** Every FLV player lays frames out the same way, and the layout holds no state: one for all. */
const FLV_LAYOUT = new FlvLayout();

const enum State {
  /** Accepted; waiting for the access check or the stream, nothing sent yet. */
  Pending,
  Playing,
  /** Flushing what is queued, then ending. */
  Closing,
  Closed,
}

export class FlvPlayer implements Peer, Connection, SinkOwner {
  readonly outbox: Outbox;
  readonly log: Logger;
  readonly role = "player";
  /** An FLV player never publishes, so nothing it sends was relayed. */
  readonly relayHops = 0;
  readonly since = Date.now();
  lastReadAt: number;
  bytesIn = 0;
  private state = State.Pending;
  private readonly startedAt: number;
  private closingSince = 0;
  private playback: Playback | null = null;
  private readonly closed = Promise.withResolvers<void>();

  constructor(
    readonly id: string,
    readonly protocol: "http-flv" | "ws-flv",
    readonly remoteAddress: string,
    readonly name: StreamName,
    private readonly sink: FlvSink,
    private readonly context: PlayerContext,
    private readonly settings: PlayerSettings,
  ) {
    this.log = context.log.child({ conn_id: id, stream_key: name.key });
    this.outbox = new Outbox(sink);
    this.startedAt = this.lastReadAt = performance.now();
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

  /** Still accepted and not refused, closed or gone. */
  get pending(): boolean {
    return this.state === State.Pending;
  }

  /** Start playing: the FLV file header, then whatever the stream replays (metadata, headers, GOP) and sends. */
  start(fileHeader: Uint8Array): void {
    if (this.state !== State.Pending) return;
    this.state = State.Playing;
    this.outbox.push(fileHeader);
    this.playback = this.context.hub.play(this, this.name, 0, FLV_LAYOUT);
  }

  /** Bytes from the peer (WebSocket messages): they prove it alive, nothing more. */
  received(bytes: number): void {
    this.lastReadAt = performance.now();
    this.bytesIn += bytes;
    this.context.stats.bytesIn += bytes;
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
    if (discard) return this.abort(reason);
    if (this.state >= State.Closing) return;
    this.log.info("connection closed", { reason, ...this.summary() });
    this.playback?.end();
    this.playback = null;
    this.state = State.Closing;
    this.closingSince = performance.now();
    this.outbox.flush();
    this.endWhenFlushed();
  }

  /** Cut the connection now (nothing it could still take matters). */
  abort(reason: string): void {
    if (this.state === State.Closed) return;
    this.log.info(this.state === State.Closing ? "connection cut" : "connection closed", { reason, ...this.summary() });
    this.playback?.end();
    this.playback = null;
    this.state = State.Closing;
    this.sink.abort();
    this.gone();
  }

  onDrain(now: number): void {
    this.outbox.drain(now);
    if (this.state === State.Closing) this.endWhenFlushed();
  }

  /** Periodic check: a closing player that lingers, a stuck write, an idle connection. */
  tick(now: number): void {
    if (this.state === State.Closed || this.state === State.Pending) return;
    if (this.state === State.Closing) {
      if (now - this.closingSince > LINGER_MS) this.abort("close timed out");
      return;
    }
    const s = this.settings;
    if (this.outbox.blockedSince !== 0 && now - this.outbox.blockedSince > s.writeMs) {
      this.abort(`write timeout: the peer took no bytes for ${s.writeMs} ms`);
    } else if (now - Math.max(this.lastReadAt, this.outbox.lastProgress) > s.readMs) {
      this.close(`idle for ${s.readMs} ms`);
    }
  }

  /** The connection closed (the peer left, or we ended it): the one place a player ends. */
  gone(): void {
    if (this.state === State.Closed) return;
    if (this.state !== State.Closing) this.log.info("connection closed", { reason: "peer closed", ...this.summary() });
    this.playback?.end();
    this.playback = null;
    this.state = State.Closed;
    this.outbox.close();
    reportConnectionClosed(this, this.startedAt, this.context.stats, this.context.events);
    this.context.onClosed(this);
    this.closed.resolve();
  }

  private endWhenFlushed(): void {
    if (this.state !== State.Closing || !this.outbox.empty) return;
    this.sink.end();
    this.gone();
  }

  private summary(): Record<string, unknown> {
    return connectionSummary(this, this.startedAt);
  }
}
