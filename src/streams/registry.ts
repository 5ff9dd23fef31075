/**
 * All live streams by key, and the publish rules: one publisher per key; a second one is refused or
 * replaces the first (streams.publish_conflict), and a publisher silent for timeouts.publisher_idle is stale
 * and always replaced. A stream with neither publisher nor players is forgotten. A stream asked for and not
 * published here is demanded from the StreamSource, if there is one (the cluster's pulls).
 */
import type { FrameLayout } from "../media/frame.ts";
import type { Peer, Playback, Publication, StreamHub } from "../shared/hub.ts";
import type { StreamName } from "../shared/stream-name.ts";
import { Stream, type StreamContext, type StreamSettings } from "./stream.ts";
import type { StreamSource } from "./stream-source.ts";

export interface RegistrySettings extends StreamSettings {
  publishConflict: "reject" | "replace";
  publisherIdleMs: number;
}

export class StreamRegistry implements StreamHub, StreamSource {
  readonly streams = new Map<string, Stream>();
  /** Where streams not published here come from (set once at start), or null. */
  source: StreamSource | null = null;

  constructor(
    private readonly settings: RegistrySettings,
    private readonly context: StreamContext,
  ) {}

  publish(peer: Peer, name: StreamName): Publication | null {
    const stream = this.get(name);
    const old = stream.publisher;
    if (old === null) return stream.publish(peer, false);
    const idleMs = performance.now() - old.lastReadAt;
    const stale = idleMs > this.settings.publisherIdleMs;
    if (!stale && this.settings.publishConflict === "reject") {
      this.context.log.warn("publish refused: stream already has a publisher", { stream_key: name.key, conn_id: peer.id, publisher: old.id });
      return null;
    }
    const publication = stream.publish(peer, true);
    old.close(stale ? `stale publisher (silent for ${Math.round(idleMs)} ms) replaced` : "replaced by a new publisher");
    return publication;
  }

  play(peer: Peer, name: StreamName, streamId: number, layout: FrameLayout): Playback {
    const playback = this.get(name).addSubscriber(peer, streamId, layout);
    this.demand(name.key);
    return playback;
  }

  /** Every viewer of a stream not published here comes through this: the source is asked for it. */
  demand(key: string): void {
    if (this.source !== null && (this.streams.get(key)?.publisher ?? null) === null) this.source.demand(key);
  }

  private get(name: StreamName): Stream {
    let stream = this.streams.get(name.key);
    if (stream === undefined) {
      stream = new Stream(name, this.settings, this.context, (s) => this.forgetIfIdle(s));
      this.streams.set(name.key, stream);
      this.context.events.emit("stream_create", { streamKey: name.key }, { app: name.app, name: name.name });
    }
    return stream;
  }

  private forgetIfIdle(stream: Stream): void {
    if (!stream.idle || this.streams.get(stream.key) !== stream) return;
    this.streams.delete(stream.key);
    this.context.events.emit("stream_delete", { streamKey: stream.key }, {});
  }
}
