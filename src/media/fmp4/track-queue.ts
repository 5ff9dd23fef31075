/**
 * One track's samples on their way into fMP4 fragments: the sample held until the next one of its track gives
 * its duration, the run gathered for the next fragment, and the frames retained for both until fragment() has
 * copied their data. Where fragments end is the caller's policy (HLS parts, MP4 recording fragments).
 */
import type { Frame } from "../frame.ts";
import type { Sample, TrackRun } from "./fragment.ts";
import { type SampleView, type TrackConfig, ticks } from "./track.ts";

/** A sample with the frame its data is a view of, which the queue retains until the sample leaves it. */
export interface QueuedSample extends Sample {
  readonly frame: Frame;
  /** Decode time in the track's timescale. */
  readonly dts: number;
  /** Decode time in the caller's milliseconds, never before the track's previous sample's. */
  readonly ms: number;
  /** The milliseconds the caller gave, before that clamp. */
  readonly givenMs: number;
}

/** Its duration is set once the next sample (or the end) is known. */
type HeldSample = QueuedSample & { duration: number };

/** A track's queue is itself the run fragment() writes: track id, base decode time, samples. */
export class TrackQueue implements TrackRun {
  readonly trackId: number;
  /** The run for the next fragment, in decode order. */
  readonly samples: QueuedSample[] = [];
  /** Decode time of the run's first sample. */
  baseDecodeTime = 0;
  /** Sample bytes in the run. */
  bytes = 0;
  /** Decode time after the last sample gathered (0 before any). */
  end = 0;
  /** Duration of the last sample gathered: what a held sample with no successor gets. */
  private lastDuration: number;
  private pending: HeldSample | null = null;
  private lastMs = -Infinity;

  constructor(
    readonly config: TrackConfig,
    /** The duration a last sample gets when none was gathered before it. */
    firstDuration = 0,
  ) {
    this.trackId = config.id;
    this.lastDuration = firstDuration;
  }

  /** The sample held, its duration not known yet; null when none. */
  get held(): QueuedSample | null {
    return this.pending;
  }

  /**
   * The track's next sample, from `frame` (retained) at `givenMs`: it becomes the held one, and the one held before
   * comes back with its duration, for the caller to gather(); null when none was held.
   */
  push(frame: Frame, sample: SampleView, givenMs: number): QueuedSample | null {
    // A publisher's clock that steps back gives a sample of no duration, never a negative one.
    const ms = Math.max(givenMs, this.lastMs);
    this.lastMs = ms;
    const timescale = this.config.timescale;
    const dts = ticks(ms, timescale);
    const previous = this.pending;
    if (previous !== null) previous.duration = dts - previous.dts;
    this.pending = {
      frame: frame.retain(),
      data: sample.data,
      duration: 0,
      compositionOffset: ticks(ms + sample.compositionOffsetMs, timescale) - dts,
      sync: sample.keyframe,
      dts,
      ms,
      givenMs,
    };
    return previous;
  }

  /** The held sample, lasting as long as the last one gathered (nothing follows it), for gather(). */
  flush(): QueuedSample | null {
    const held = this.pending;
    this.pending = null;
    if (held !== null) held.duration = this.lastDuration;
    return held;
  }

  /** Adds a sample push() or flush() gave back to the run. */
  gather(sample: QueuedSample): void {
    if (this.samples.length === 0) this.baseDecodeTime = sample.dts;
    this.samples.push(sample);
    this.bytes += sample.data.length;
    this.lastDuration = sample.duration;
    this.end = sample.dts + sample.duration;
  }

  /** The run went into a fragment (fragment() copied its data) or is given up: its frames go, a new run starts. */
  releaseRun(): void {
    for (const sample of this.samples) sample.frame.release();
    this.samples.length = 0;
    this.bytes = 0;
  }

  /** Lets go of everything: the held sample and the run. */
  close(): void {
    this.pending?.frame.release();
    this.pending = null;
    this.releaseRun();
  }
}

/** Samples and sample bytes in the runs of `queues`: what the next fragment holds so far. */
export function gathered(queues: readonly TrackQueue[]): { samples: number; bytes: number } {
  let samples = 0;
  let bytes = 0;
  for (const queue of queues) {
    samples += queue.samples.length;
    bytes += queue.bytes;
  }
  return { samples, bytes };
}
