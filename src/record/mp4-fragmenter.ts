/**
 * Cuts an MP4 recording's samples into fragments. A sample's duration is known only when the next sample of
 * its track arrives, so each track's last sample is held until then. A fragment ends before a video keyframe
 * (so every GOP starts one), or once it holds FRAGMENT_MS of media (so a long GOP is not one huge fragment,
 * and a crash loses little), whichever comes first. Frames are retained, not copied, until fragment()
 * copies their samples once into the fragment's buffer.
 *
 * The time limit is checked at frames of the first track (video, when there is any): checked at audio, it
 * would end a fragment a few milliseconds before a keyframe due at the same time, and no fragment would
 * start with one.
 */
import { type Sample, type TrackRun, fragment } from "../media/fmp4/fragment.ts";
import { type SampleView, type TrackConfig, sampleOf, ticks } from "../media/fmp4/track.ts";
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
export const MAX_FRAGMENT_BYTES = 4 * 1024 * 1024;
export const MAX_FRAGMENT_SAMPLES = 1_000;

/** How a fragment's run of one track starts, for the file's random access index. */
export interface RunStart {
  readonly trackId: number;
  /** Presentation time of the run's first sample, in its track's timescale. */
  readonly time: number;
  /** The first sample is a sync sample. */
  readonly sync: boolean;
}

interface HeldSample {
  frame: Frame;
  view: SampleView;
  /** Decode time in the track's timescale. */
  dts: number;
  /** File time, milliseconds. */
  timeMs: number;
}

/** One track's samples: the held one, and those of the fragment being gathered. */
class TrackQueue {
  held: HeldSample | null = null;
  readonly samples: Sample[] = [];
  readonly frames: Frame[] = [];
  baseDecodeTime = 0;
  lastDuration = 0;
  /** Decode time after the last sample gathered. */
  end = 0;

  constructor(readonly track: TrackConfig) {}
}

export class Mp4Fragmenter {
  private readonly queues: TrackQueue[];
  private sequence = 1;
  /** File time of the earliest sample gathered for the next fragment. */
  private gatheredSince = Infinity;
  private gatheredBytes = 0;
  private gatheredSamples = 0;

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
    const queue = this.queues.find((q) => q.track === track);
    if (view === null || queue === undefined) return;
    let dts = ticks(timeMs, track.timescale);
    const held = queue.held;
    if (held !== null) {
      // A publisher's clock that steps back gives a sample of no duration, never a negative one.
      if (dts < held.dts) dts = held.dts;
      queue.lastDuration = dts - held.dts;
      this.gather(queue, held, queue.lastDuration);
    }
    if (this.gatheredSamples > 0 && this.cutBefore(queue, view, timeMs)) this.cut();
    queue.held = { frame: frame.retain(), view, dts, timeMs };
  }

  /** The stream or segment ended: what is held goes out, each last sample lasting as long as the one before it. */
  flush(): void {
    for (const queue of this.queues) {
      if (queue.held === null) continue;
      this.gather(queue, queue.held, queue.lastDuration);
      queue.held = null;
    }
    if (this.gatheredSamples > 0) this.cut();
  }

  /** Lets go of everything held, writing nothing (the file failed or was given up). */
  discard(): void {
    for (const queue of this.queues) {
      queue.held?.frame.release();
      queue.held = null;
    }
    this.releaseGathered();
  }

  /** Decode time, in its timescale, after the last sample of `track` that went into a fragment. */
  end(track: TrackConfig): number {
    return this.queues.find((q) => q.track === track)?.end ?? 0;
  }

  private cutBefore(queue: TrackQueue, view: SampleView, timeMs: number): boolean {
    if (this.gatheredBytes >= MAX_FRAGMENT_BYTES || this.gatheredSamples >= MAX_FRAGMENT_SAMPLES) return true;
    const gathered = timeMs - this.gatheredSince;
    if (queue.track.kind === "video" && view.keyframe) {
      return queue.samples[0]?.sync !== true || gathered >= MIN_KEYFRAME_FRAGMENT_MS;
    }
    return gathered >= (queue === this.queues[0] ? FRAGMENT_MS : STALLED_FRAGMENT_MS);
  }

  private gather(queue: TrackQueue, held: HeldSample, duration: number): void {
    if (queue.samples.length === 0) queue.baseDecodeTime = held.dts;
    queue.samples.push({
      data: held.view.data,
      duration,
      compositionOffset: ticks(held.view.compositionOffsetMs, queue.track.timescale),
      sync: held.view.keyframe,
    });
    queue.frames.push(held.frame);
    queue.end = held.dts + duration;
    this.gatheredSince = Math.min(this.gatheredSince, held.timeMs);
    this.gatheredBytes += held.view.data.length;
    this.gatheredSamples++;
  }

  private cut(): void {
    const runs: TrackRun[] = [];
    const starts: RunStart[] = [];
    for (const queue of this.queues) {
      const [first] = queue.samples;
      if (first === undefined) continue;
      runs.push({ trackId: queue.track.id, baseDecodeTime: queue.baseDecodeTime, samples: queue.samples });
      starts.push({
        trackId: queue.track.id,
        time: Math.max(0, queue.baseDecodeTime + first.compositionOffset),
        sync: first.sync,
      });
    }
    const bytes = fragment(this.sequence++, runs);
    // fragment() copied the samples: the frames can go.
    this.releaseGathered();
    this.emit(bytes, starts);
  }

  private releaseGathered(): void {
    for (const queue of this.queues) {
      for (const frame of queue.frames) frame.release();
      queue.frames.length = 0;
      queue.samples.length = 0;
    }
    this.gatheredSince = Infinity;
    this.gatheredBytes = 0;
    this.gatheredSamples = 0;
  }
}
