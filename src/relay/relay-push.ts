/**
 * One published stream pushed to one destination for as long as the stream lives: connect, publish, hand
 * frames to the live RelayConnection, and after a failure or a drop try again with backoff (1 s doubling to
 * 30 s). It never blocks the stream: frames arriving while no connection is live are simply not sent.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { Frame } from "../media/frame.ts";
import type { PublishedStream, StreamOutput } from "../streams/output.ts";
import { MAX_QUEUE_BYTES } from "../streams/subscriber.ts";
import { type ResolvedDestination, redactQuery } from "./destination.ts";
import { RelayConnection } from "./relay-connection.ts";
import { RtmpClient, RtmpStatusError } from "./rtmp-client.ts";

const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

/** connecting: an attempt is under way; live: publishing; retrying: waiting out the backoff; stopped: ended. */
export type RelayState = "connecting" | "live" | "retrying" | "stopped";

export interface RelayPushSettings {
  chunkSize: number;
  maxLagMs: number;
  writeTimeoutMs: number;
  /** Deadline for TCP connect + handshake + connect reply, and for each later reply. */
  replyTimeoutMs: number;
  /** Sent in connect as `relayHops`, so a server receiving it can stop a relay loop. */
  relayHops: number;
}

export interface RelayCounters {
  /** Connection attempts after the first. */
  reconnects: number;
  /** Media frames a live destination did not get because it fell behind. */
  framesDropped: number;
  /** Bytes the destinations' sockets took. */
  bytesSent: number;
}

export class RelayPush implements StreamOutput {
  state: RelayState = "connecting";
  private connection: RelayConnection | null = null;
  /** Established clients not closed yet (live, or finishing): their bytes still count. */
  private readonly clients = new Set<RtmpClient>();
  private retiredBytes = 0;
  private retiredDrops = 0;
  private delayMs = BACKOFF_MIN_MS;
  private liveSince = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Aborts whatever client is connecting or closing: for stop() and the shutdown deadline. */
  private readonly abortion = new AbortController();
  private attempting: Promise<void> = Promise.resolve();
  private finishing: Promise<void> = Promise.resolve();
  private ended = false;
  private attempts = 0;
  /** The last failure logged at warn: repeats of it go to debug, so a long outage is not a log flood. */
  private lastFailure = "";
  private readonly log: Logger;

  constructor(
    readonly id: string,
    readonly destination: ResolvedDestination,
    readonly source: PublishedStream,
    private readonly settings: RelayPushSettings,
    log: Logger,
    private readonly events: EventChannel,
    /** Called once, when the push has ended and its last connection is gone. */
    private readonly onGone: (push: RelayPush) => void,
  ) {
    this.log = log.child({ stream_key: source.key, relay_id: id, url: destination.shown });
    this.attempting = this.attempt();
  }

  get url(): string {
    return this.destination.shown;
  }

  get counters(): RelayCounters {
    let bytesSent = this.retiredBytes;
    for (const client of this.clients) bytesSent += client.bytesSent;
    const framesDropped = this.retiredDrops + (this.connection?.dropped ?? 0);
    return { reconnects: Math.max(0, this.attempts - 1), framesDropped, bytesSent };
  }

  frame(frame: Frame): void {
    this.connection?.frame(frame, this.source.hasVideo);
  }

  end(): void {
    void this.stop("unpublished");
  }

  /**
   * End the push: a live destination gets FCUnpublish and deleteStream after what is queued, then the
   * connection closes; an attempt under way is abandoned. Resolves once no connection is left.
   */
  stop(reason: string): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.state = "stopped";
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      const connection = this.retire(reason);
      if (connection === null) this.abortion.abort();
      else this.finishing = connection.finish().catch(() => {});
      void Promise.all([this.attempting, this.finishing]).then(() => this.onGone(this));
    }
    return Promise.all([this.attempting, this.finishing]).then(() => {});
  }

  /** Past the shutdown deadline: drop every connection now. */
  abort(): void {
    this.abortion.abort();
  }

  /** The sweep: a destination whose socket took nothing for timeouts.write is dropped (its client closes) and retried. */
  tick(now: number): void {
    this.connection?.client.check(now);
  }

  private async attempt(): Promise<void> {
    this.state = "connecting";
    this.attempts++;
    const { target } = this.destination;
    let client: RtmpClient | null = null;
    try {
      client = await RtmpClient.connect(target, {
        chunkSize: this.settings.chunkSize,
        timeoutMs: this.settings.replyTimeoutMs,
        writeTimeoutMs: this.settings.writeTimeoutMs,
        maxQueueBytes: MAX_QUEUE_BYTES,
        connectFields: { relayHops: this.settings.relayHops },
        signal: this.abortion.signal,
        // Only a connect() that resolved reports its close, and by then `client` is set.
        onClose: (err) => {
          if (client !== null) this.closed(client, err);
        },
      });
      this.clients.add(client);
      const streamId = await client.createStream();
      await client.publish(streamId, target.name);
      // stop() aborted every client, but this one's publish may have settled just before.
      if (this.ended) {
        client.abort();
        return;
      }
      this.live(new RelayConnection(this.connectionOptions(client, streamId)));
    } catch (err) {
      client?.abort();
      if (!this.ended) this.failed(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private connectionOptions(client: RtmpClient, streamId: number) {
    return {
      client,
      streamId,
      source: this.source,
      chunkSize: this.settings.chunkSize,
      maxLagMs: this.settings.maxLagMs,
      onFailure: (reason: string) => this.drop(reason),
    };
  }

  private live(connection: RelayConnection): void {
    this.connection = connection;
    this.liveSince = performance.now();
    this.state = "live";
    this.lastFailure = "";
    this.log.info("relay live", { attempt: this.attempts });
    this.events.emit("relay_start", { streamKey: this.source.key }, { url: this.url });
  }

  private failed(err: Error): void {
    const code = err instanceof RtmpStatusError ? err.code : undefined;
    const error = redactQuery(err.message, this.destination.target);
    const fields = { error, code, attempt: this.attempts, retry_in_ms: this.delayMs };
    if (error === this.lastFailure) this.log.debug("relay failed", fields);
    else this.log.warn("relay failed", fields);
    this.lastFailure = error;
    this.retryLater();
  }

  /** Drop the live connection (it failed or fell too far behind) and try again later. */
  private drop(reason: string): void {
    const connection = this.retire(reason);
    if (connection === null) return;
    connection.client.abort();
    // A destination that stayed up a while starts over at the shortest delay; a flapping one keeps backing off.
    if (performance.now() - this.liveSince >= BACKOFF_MAX_MS) this.delayMs = BACKOFF_MIN_MS;
    this.retryLater();
  }

  /** An established client is gone; if it was the live one, that is a drop. */
  private closed(client: RtmpClient, err: Error | undefined): void {
    this.clients.delete(client);
    this.retiredBytes += client.bytesSent;
    if (this.connection?.client === client) this.drop(redactQuery(err?.message ?? "the destination closed the connection", this.destination.target));
  }

  /** Take the live connection out of service, with its relay_stop; null if none was live. */
  private retire(reason: string): RelayConnection | null {
    const connection = this.connection;
    if (connection === null) return null;
    this.connection = null;
    this.retiredDrops += connection.dropped;
    const level = this.ended ? "info" : "warn";
    this.log[level]("relay stopped", { reason, frames_dropped: connection.dropped, bytes_sent: connection.client.bytesSent });
    this.events.emit("relay_stop", { streamKey: this.source.key }, { url: this.url, reason });
    return connection;
  }

  private retryLater(): void {
    if (this.ended) return;
    this.state = "retrying";
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, BACKOFF_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.attempting = this.attempt();
    }, delay);
  }
}
