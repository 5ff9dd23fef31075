/**
 * Which streams have an HLS muxer, and when one starts and stops. A stream nobody watches over HLS has none
 * and costs nothing. One starts on the first viewer's request for a published stream (from its GOP cache),
 * is fed each later publication of it (the output factory asks here), and stops when its last viewer has
 * gone, or once its stream has been unpublished for UNPUBLISHED_STOP_MS, or at shutdown. A new muxer of a
 * stream numbers on where the last one stopped, so the media sequence of a URL never goes back.
 */
import type { Logger } from "../logger.ts";
import { keyMatcher } from "../streams/key-pattern.ts";
import type { PublishedStream, StreamOutput } from "../streams/output.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import { HlsMuxer } from "./muxer.ts";
import type { SequenceStart } from "./segmenter.ts";

/** The hls section of the config. */
export interface HlsSettings {
  enabled: boolean;
  lowLatency: boolean;
  segmentMs: number;
  partMs: number;
  window: number;
  /** Stream keys or globs offered as HLS; empty: every stream. */
  streams: string[];
}

/** A muxer whose stream has been unpublished this long stops (its viewers then get 404): a republish within it continues the URL. */
const UNPUBLISHED_STOP_MS = 30_000;
/** Streams whose numbering is remembered after their muxer stopped (the oldest are forgotten first). */
const REMEMBERED_STREAMS = 10_000;

export class HlsMuxers {
  private readonly muxers = new Map<string, HlsMuxer>();
  private readonly sequences = new Map<string, SequenceStart>();
  readonly offered: (key: string) => boolean;

  constructor(
    readonly settings: HlsSettings,
    private readonly registry: StreamRegistry,
    private readonly log: Logger,
  ) {
    this.offered = keyMatcher(settings.streams);
  }

  get size(): number {
    return this.muxers.size;
  }

  /** Bytes the muxers' windows hold. */
  get bytes(): number {
    let n = 0;
    for (const muxer of this.muxers.values()) n += muxer.bytes;
    return n;
  }

  /** For the output factory: a new publication of a stream that has a muxer feeds it. */
  output(stream: PublishedStream): StreamOutput | null {
    return this.muxers.get(stream.key)?.resume() ?? null;
  }

  /** The stream's muxer, if it has one still worth serving. */
  get(key: string, now = performance.now()): HlsMuxer | null {
    const muxer = this.muxers.get(key);
    if (muxer === undefined) return null;
    if (muxer.unpublishedAt !== null && now - muxer.unpublishedAt > UNPUBLISHED_STOP_MS) {
      this.stop(key, `unpublished for ${UNPUBLISHED_STOP_MS} ms`);
      return null;
    }
    return muxer;
  }

  /** The stream's muxer, started now if the stream is published; null when it is not. */
  start(key: string): HlsMuxer | null {
    const existing = this.get(key);
    if (existing !== null) return existing;
    const stream = this.registry.streams.get(key);
    if (stream === undefined || stream.publisher === null) return null;
    const { lowLatency, segmentMs, partMs, window } = this.settings;
    const keyframeIntervalMs = stream.stats(performance.now())?.keyframe_interval_ms ?? 0;
    const settings = { lowLatency, segmentMs, partMs, window, keyframeIntervalMs };
    const muxer = new HlsMuxer(key, settings, this.sequences.get(key) ?? { msn: 0, discontinuity: 0 });
    if (!muxer.attach(stream)) return null;
    this.muxers.set(key, muxer);
    this.log.info("hls muxer started", { stream_key: key, prefix: muxer.names.prefix });
    return muxer;
  }

  stop(key: string, reason: string): void {
    const muxer = this.muxers.get(key);
    if (muxer === undefined) return;
    this.muxers.delete(key);
    this.registry.streams.get(key)?.removeOutput(muxer);
    muxer.stop();
    this.sequences.delete(key);
    this.sequences.set(key, muxer.sequenceEnd);
    if (this.sequences.size > REMEMBERED_STREAMS) this.sequences.delete(this.sequences.keys().next().value!);
    this.log.info("hls muxer stopped", { stream_key: key, reason });
  }

  stopAll(reason: string): void {
    for (const key of [...this.muxers.keys()]) this.stop(key, reason);
  }
}
