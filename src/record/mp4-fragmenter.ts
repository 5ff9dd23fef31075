/**
 * Cuts an MP4 recording's samples into fragments. Each track's samples wait in a TrackQueue (the last one held
 * until the next gives its duration, frames retained, not copied, until fragment() copies their samples once
 * into the fragment's buffer). A fragment ends before a video keyframe (so every GOP starts one), or once it
 * holds FRAGMENT_MS of media (so a long GOP is not one huge fragment, and a crash loses little), whichever
 * comes first.
 *
 * The time limit is checked at frames of the first track (video, when there is any): checked at audio, it
 * would end a fragment a few milliseconds before a keyframe due at the same time, and no fragment would
 * start with one.
 */
import { fragment } from "../media/fmp4/fragment.ts";
import { type TrackConfig, sampleOf } from "../media/fmp4/track.ts";
import { type QueuedSample, TrackQueue, gathered } from "../media/fmp4/track-queue.ts";
import type { Frame } from "../media/frame.ts";

/** Media a fragment holds at most (in file time, from its earliest sample to the sample being added). */
export const FRAGMENT_MS = 1_000;
/** The time limit at any frame: the first track stalled (video stopped, audio goes on). */
const STALLED_FRAGMENT_MS = 2 * FRAGMENT_MS;
/**
 * A fragment that opens with a keyframe ends at the next one only once it holds this much, so that very short
 * GOPs (all-intra video) still make fragments of a useful size instead of one per frame.
 */
export const MIN_KEYFRAME_FRAGMENT_MS = 250;
/** Bounds on what a fragment holds (retained frames), whatever the timestamps say. */
const MAX_FRAGMENT_BYTES = 4 * 1024 * 1024;
const MAX_FRAGMENT_SAMPLES = 1_000;

/** How a fragment's run of one track starts, for the file's random access index. */
export interface RunStart {
  readonly trackId: number;
  /** Presentation time of the run's first sample, in its track's timescale. */
  readonly time: number;
  /** The first sample is a sync sample. */
  readonly sync: boolean;
}

export class Mp4Fragmenter {
  private readonly queues: TrackQueue[];
  private sequence = 1;
  /** File time of the earliest sample gathered for the next fragment (as given: the limits go by the file's clock). */
  private gatheredSince = Infinity;

  constructor(
    /** In the order their trafs go in a moof. */
    tracks: readonly TrackConfig[],
    /** A fragment is complete: moof + mdat, and how each of its runs starts (in traf order). */
    private readonly emit: (bytes: Uint8Array, runs: readonly RunStart[]) => void,
  ) {
    this.queues = tracks.map((track) => new TrackQueue(track));
  }

  /** A media frame of `track` at file time `timeMs`; one that carries no sample (a sequence end) is ignored. */
  add(track: TrackConfig, frame: Frame, timeMs: number): void {
    const view = sampleOf(frame.type, frame.payload);
    const queue = this.queues.find((q) => q.config === track);
    if (view === null || queue === undefined) return;
    const previous = queue.push(frame, view, timeMs);
    if (previous !== null) {
      queue.gather(previous);
      this.gatheredSince = Math.min(this.gatheredSince, previous.givenMs);
    }
    if (this.cutBefore(queue, queue.held!)) this.cut();
  }

  /** The stream or segment ended: what is held goes out, each last sample lasting as long as the one before it. */
  flush(): void {
    for (const queue of this.queues) {
      const last = queue.flush();
      if (last !== null) queue.gather(last);
    }
    if (gathered(this.queues).samples > 0) this.cut();
  }

  /** Lets go of everything held, writing nothing (the file failed or was given up). */
  discard(): void {
    for (const queue of this.queues) queue.close();
    this.gatheredSince = Infinity;
  }

  /** Decode time, in its timescale, after the last sample of `track` that went into a fragment. */
  end(track: TrackConfig): number {
    return this.queues.find((q) => q.config === track)?.end ?? 0;
  }

  /** Does the fragment gathered so far end before `next`, the sample `queue` holds now? */
  private cutBefore(queue: TrackQueue, next: QueuedSample): boolean {
    const { samples, bytes } = gathered(this.queues);
    if (samples === 0) return false;
    if (bytes >= MAX_FRAGMENT_BYTES || samples >= MAX_FRAGMENT_SAMPLES) return true;
    const gatheredMs = next.givenMs - this.gatheredSince;
    if (queue.config.kind === "video" && next.sync) {
      return queue.samples[0]?.sync !== true || gatheredMs >= MIN_KEYFRAME_FRAGMENT_MS;
    }
    return gatheredMs >= (queue === this.queues[0] ? FRAGMENT_MS : STALLED_FRAGMENT_MS);
  }

  private cut(): void {
    const starts: RunStart[] = [];
    for (const queue of this.queues) {
      const [first] = queue.samples;
      if (first === undefined) continue;
      starts.push({
        trackId: queue.trackId,
        time: Math.max(0, queue.baseDecodeTime + first.compositionOffset),
        sync: first.sync,
      });
    }
    const bytes = fragment(this.sequence++, this.queues);
    // fragment() copied the samples: the frames can go.
    for (const queue of this.queues) queue.releaseRun();
    this.gatheredSince = Infinity;
    this.emit(bytes, starts);
  }
}
