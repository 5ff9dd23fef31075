/**
 * One player of a stream: its connection's outbox, the wire form its frames take there, and the drop
 * policy. A player further behind than the lag bound (measured as how long its oldest queued frame has
 * waited) loses its queued frames and skips to the next keyframe, so a slow player never holds more than
 * about that much media and never slows anyone.
 */
import type { Frame, FrameLayout } from "../media/frame.ts";
import type { Peer } from "../shared/hub.ts";
import { KEEP, type Outbox } from "../shared/outbox.ts";
import type { ServerStats } from "../shared/server-stats.ts";

/**
 * Hard bound on one player's queue. The lag policy keeps queues far below it; only a player that cannot
 * take even metadata and headers (or a GOP burst far beyond gop_cache_max_bytes) reaches it, and is closed.
 */
export const MAX_QUEUE_BYTES = 64 * 1024 * 1024;

/** What the drop policy needs of a connection: its send queue, and a way to end it. */
export type SubscriberPeer = Pick<Peer, "outbox" | "close">;

export class Subscriber<P extends SubscriberPeer = Peer> {
  /** Dropping frames until the next video keyframe (after a skip, or when joining without a GOP). */
  waitKeyframe = true;
  /** About to get the GOP cache, which will cover the live frames it skips meanwhile. */
  joining = false;
  dropped = 0;
  readonly since = performance.now();
  private started = false;
  /** The peer's outbox, read once: the peer's own object is one more cache line per frame for a fan-out. */
  private readonly outbox: Outbox;

  constructor(
    readonly peer: P,
    /** The player's message stream id (RTMP), for control messages and statuses. */
    readonly streamId: number,
    private readonly layout: FrameLayout,
    private readonly maxLagMs: number,
    /** The server's counters, for a player; null for an output that keeps its own count (a relay destination). */
    private readonly stats: ServerStats | null,
  ) {
    this.outbox = peer.outbox;
  }

  /** Metadata, sequence headers and other messages a player must never miss (the GOP replay sends them). */
  sendKeep(frame: Frame): void {
    if (this.joining) return;
    this.push(frame, KEEP);
  }

  sendMedia(frame: Frame, now: number, streamHasVideo: boolean): void {
    if (this.joining) return;
    if (this.waitKeyframe) {
      if ((frame.video && frame.keyframe) || !streamHasVideo) this.waitKeyframe = false;
      else return this.drop(1);
    }
    const outbox = this.outbox;
    const oldest = outbox.oldestMediaTime();
    if (oldest !== 0 && now - oldest > this.maxLagMs) {
      this.drop(outbox.dropMedia());
      if (streamHasVideo && !(frame.video && frame.keyframe)) {
        this.waitKeyframe = true;
        return this.drop(1);
      }
    }
    if (!this.started && this.stats !== null) {
      this.started = true;
      this.stats.firstFrame.observe((now - this.since) / 1000);
    }
    this.push(frame, now);
  }

  /** Age of the oldest queued frame (ms), 0 when none waits. */
  lag(now: number): number {
    const oldest = this.outbox.oldestMediaTime();
    return oldest === 0 ? 0 : now - oldest;
  }

  private drop(frames: number): void {
    this.dropped += frames;
    if (this.stats !== null) this.stats.framesDropped += frames;
  }

  private push(frame: Frame, tag: number): void {
    const outbox = this.outbox;
    outbox.pushFrame(frame, this.layout, tag);
    if (outbox.queuedBytes > MAX_QUEUE_BYTES) this.peer.close(`send queue over ${MAX_QUEUE_BYTES} bytes`, true);
  }
}
