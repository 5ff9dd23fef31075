/**
 * One pull: a stream played from the node that has it, over our outbound RTMP client, and published into
 * the local registry as a publication like any other (metadata, sequence headers, GOP cache, every output),
 * so every viewer here shares it. The sources are tried in order; the first whose play starts and sends
 * media is published. It ends when its source unpublishes or goes away (its players get what an unpublish
 * gives them), when it has had no viewer for cluster.pull_idle, or when a local publisher replaces it.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { splitAggregate } from "../protocol/aggregate.ts";
import { Amf0Reader } from "../protocol/amf0.ts";
import { decodeCommand, stringField } from "../protocol/command.ts";
import { MessageType, type RtmpMessage } from "../protocol/message.ts";
import { redactQuery } from "../relay/destination.ts";
import { RtmpClient, type RtmpUrl } from "../relay/rtmp-client.ts";
import type { Peer, Publication } from "../shared/hub.ts";
import type { StreamName } from "../shared/stream-name.ts";
import type { StreamRegistry } from "../streams/registry.ts";

/** What the pull's connection is held to (the server's own limits and timeouts). */
export interface PullSettings {
  chunkSize: number;
  maxMessageSize: number;
  /** timeouts.handshake: TCP connect + handshake + connect reply, and each later reply. */
  replyTimeoutMs: number;
  /** timeouts.read: a source that sent nothing this long is gone (a live stream never is silent). */
  readMs: number;
  /** cluster.pull_idle: how long a pull stays with no viewer. */
  idleMs: number;
}

export interface PullContext {
  registry: StreamRegistry;
  events: EventChannel;
  log: Logger;
  /** Viewers of a stream here, every protocol counted. */
  viewers(key: string): number;
}

/** Where a stream may be pulled from. */
export interface PullSource {
  /** The owner's node id, or the origin URL: pull_start/pull_stop's `from`, /api/streams' `origin`. */
  from: string;
  /** What to connect to and play; the play name carries the cluster signature in its query. */
  target: RtmpUrl;
}

/** Our own queue to the source holds only acknowledgements and pongs: a source that takes none of them is gone. */
const MAX_QUEUE_BYTES = 256 * 1024;
/**
 * A source whose play started sends what it has at once (metadata, headers, the GOP), within milliseconds; one
 * that sends nothing for this long does not have the stream, and the next is tried.
 */
const FIRST_MEDIA_MS = 2_000;
/** Status codes a playing source sends when its publisher left. */
const ENDED_CODES = new Set(["NetStream.Play.UnpublishNotify", "NetStream.Play.Stop"]);

export class Pull {
  readonly log: Logger;
  private client: RtmpClient | null = null;
  private source: PullSource | null = null;
  private publication: Publication | null = null;
  /** Set while play is under way: the source's messages from then on are the stream's. */
  private playing = false;
  /** Settles the wait for the source's first media. */
  private mediaWaiter: ((err?: Error) => void) | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private ended = false;
  private liveSince = 0;
  /** performance.now() of the last message from the source: a stale publisher is one silent too long. */
  private lastMessageAt = performance.now();
  private readonly abortion = new AbortController();
  /** Resolves once the pull's connection is gone, after end(). */
  gone: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly name: StreamName,
    private readonly settings: PullSettings,
    private readonly context: PullContext,
    /** The pull is over; `live`: it had been published. */
    private readonly onEnded: (pull: Pull, live: boolean) => void,
  ) {
    this.log = context.log.child({ conn_id: id, stream_key: name.key });
  }

  get key(): string {
    return this.name.key;
  }

  /** Published here. */
  get live(): boolean {
    return this.publication !== null;
  }

  /** The source being pulled (or tried). */
  get from(): string {
    return this.source?.from ?? "";
  }

  /** Try each source in turn until one plays; the pull ends if none does. */
  async run(sources: readonly PullSource[]): Promise<void> {
    const failures: string[] = [];
    for (const source of sources) {
      if (this.ended) return;
      const failure = await this.attempt(source);
      if (failure === null) return;
      failures.push(`${source.from}: ${failure}`);
    }
    if (this.ended) return;
    this.log.debug("pull found no source", { tried: failures.length, errors: failures });
    this.end(sources.length === 0 ? "no node has the stream" : "no source plays the stream");
  }

  /** The count of viewers changed: the last one leaving starts the idle countdown, a new one stops it. */
  viewers(count: number): void {
    if (this.ended || this.publication === null) return;
    if (count > 0) {
      if (this.idleTimer !== null) clearTimeout(this.idleTimer);
      this.idleTimer = null;
    } else if (this.idleTimer === null) {
      this.idleTimer = setTimeout(() => this.end(`no viewer for ${this.settings.idleMs} ms`), this.settings.idleMs);
    }
  }

  /** The sweep: a live pull whose source has been silent for timeouts.read ends. */
  tick(now: number): void {
    const silentMs = now - this.lastMessageAt;
    if (this.publication !== null && silentMs > this.settings.readMs) this.end(`the source sent nothing for ${Math.round(silentMs)} ms`);
  }

  /** End the pull: its publication ends here (players told as for an unpublish) and its connection closes. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.mediaWaiter?.(new Error(reason));
    const client = this.client;
    this.client = null;
    if (client !== null) this.gone = client.close();
    else this.abortion.abort();
    const publication = this.publication;
    this.publication = null;
    if (publication !== null) {
      publication.end();
      const from = this.from;
      this.log.info("pull stopped", { from, reason, duration_ms: Math.round(performance.now() - this.liveSince), bytes_in: client?.bytesReceived ?? 0 });
      this.context.events.emit("pull_stop", { connId: this.id, streamKey: this.key }, { from, reason });
    }
    this.onEnded(this, publication !== null);
  }

  /** One source: null once it is published here, else why it failed. */
  private async attempt(source: PullSource): Promise<string | null> {
    this.source = source;
    let client: RtmpClient | null = null;
    try {
      client = await RtmpClient.connect(source.target, {
        chunkSize: this.settings.chunkSize,
        timeoutMs: this.settings.replyTimeoutMs,
        maxQueueBytes: MAX_QUEUE_BYTES,
        maxMessageSize: this.settings.maxMessageSize,
        signal: this.abortion.signal,
        onMessage: (m) => this.onMessage(m),
        // Once published here, audio and video are assembled straight into the publication's frame slabs.
        store: {
          reserve: (type, _streamId, length) =>
            this.playing && (type === MessageType.Audio || type === MessageType.Video) ? (this.publication?.reserve(length) ?? null) : null,
        },
        onClose: (err) => this.closed(client, err),
      });
      if (this.ended) throw new Error("ended");
      this.client = client;
      const streamId = await client.createStream();
      this.playing = true;
      await client.play(streamId, source.target.name);
      await this.firstMedia();
      return null;
    } catch (err) {
      this.playing = false;
      if (this.client === client) this.client = null;
      client?.abort();
      return redactQuery(err instanceof Error ? err.message : String(err), source.target);
    }
  }

  /** Resolves once the stream is published here; rejects if the source sends nothing in time, or goes. */
  private firstMedia(): Promise<void> {
    if (this.publication !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.mediaWaiter?.(new Error(`no media within ${FIRST_MEDIA_MS} ms of play`)), FIRST_MEDIA_MS);
      this.mediaWaiter = (err) => {
        clearTimeout(timer);
        this.mediaWaiter = null;
        if (err === undefined) resolve();
        else reject(err);
      };
    });
  }

  /** Every message from the source, in order; before play they are the connection's own. */
  private onMessage(m: RtmpMessage): void {
    this.lastMessageAt = performance.now();
    if (!this.playing || this.ended) return;
    switch (m.type) {
      case MessageType.Audio:
      case MessageType.Video:
        this.publish()?.media(m);
        return;
      case MessageType.DataAmf0:
        return this.onData(m, m.payload);
      case MessageType.DataAmf3:
        return this.onData(m, m.payload.subarray(1));
      case MessageType.Aggregate:
        return splitAggregate(m, (sub) => {
          if (sub.type === MessageType.Audio || sub.type === MessageType.Video || sub.type === MessageType.DataAmf0) this.onMessage(sub);
        });
      case MessageType.CommandAmf0:
        return this.onStatus(m.payload);
      default:
        return;
    }
  }

  private onData(m: RtmpMessage, payload: Uint8Array): void {
    const name = new Amf0Reader(payload).readValue();
    // |RtmpSampleAccess answers every play, whether or not the stream is there: it is no sign of the stream.
    if (typeof name !== "string" || name === "|RtmpSampleAccess") return;
    this.publish()?.data(payload === m.payload ? m : { ...m, type: MessageType.DataAmf0, payload }, name);
  }

  private onStatus(payload: Uint8Array): void {
    const command = decodeCommand(payload);
    if (command.name !== "onStatus") return;
    const code = stringField(command.args[0], "code") ?? "";
    if (!ENDED_CODES.has(code)) return;
    if (this.publication === null) this.mediaWaiter?.(new Error(`the source sent ${code}`));
    else this.end(`the source unpublished (${code})`);
  }

  /** The publication, made by the first of the stream's messages; null if a publisher here has the key. */
  private publish(): Publication | null {
    if (this.publication !== null) return this.publication;
    const { client, source } = this;
    if (client === null || source === null) return null;
    const { registry, events } = this.context;
    // Never replace a publisher here, whatever streams.publish_conflict says: that one is the stream.
    const publication = (registry.streams.get(this.key)?.publisher ?? null) === null ? registry.publish(this.peer(client, source), this.name) : null;
    if (publication === null) {
      this.end("the stream is published here");
      return null;
    }
    this.publication = publication;
    this.liveSince = performance.now();
    this.log.info("pull started", { from: this.from });
    events.emit("pull_start", { connId: this.id, streamKey: this.key }, { from: this.from });
    this.mediaWaiter?.();
    this.viewers(this.context.viewers(this.key));
    return publication;
  }

  /** The pull as the registry sees its publisher. */
  private peer(client: RtmpClient, source: PullSource): Peer {
    const pull = this;
    return {
      id: this.id,
      protocol: source.target.tls ? "rtmps" : "rtmp",
      outbox: client.sendQueue,
      log: this.log,
      get lastReadAt() {
        return pull.lastMessageAt;
      },
      relayHops: 0,
      origin: source.from,
      publishChanged() {},
      close: (reason) => this.end(reason),
    };
  }

  /** The source's connection is gone: a live pull ends, an attempt fails. */
  private closed(client: RtmpClient | null, err: Error | undefined): void {
    const source = this.source;
    if (client === null || client !== this.client || source === null) return;
    const reason = err === undefined ? "the source closed the connection" : redactQuery(err.message, source.target);
    if (this.publication === null) this.mediaWaiter?.(new Error(reason));
    else this.end(`the source went away: ${reason}`);
  }
}
