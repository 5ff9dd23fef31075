/**
 * One muxer's media clock: RTMP timestamps (32-bit milliseconds that wrap, restart at 0 on a republish, and
 * jump when an encoder resets) turned into milliseconds that only ever move forward, across publications.
 */

/** Where a muxer's clock starts: late enough that a frame stamped a little before the first is not negative. */
const START_MS = 10_000;
/**
 * A step between consecutive frames (any track) larger than this is a jump of the publisher's clock, not
 * media: the timeline goes on from where it was. Audio and video of one stream are never this far apart.
 */
const MAX_STEP_MS = 10_000;

export class Timeline {
  private lastRaw = 0;
  private last = START_MS;
  private started = false;

  /** The unwrapped time (ms) of a frame stamped `raw`. */
  unwrap(raw: number): number {
    if (!this.started) {
      this.started = true;
      this.lastRaw = raw;
      return this.last;
    }
    // The signed 32-bit difference: a wrap past 2^32 is a small step forward.
    const step = (raw - this.lastRaw) | 0;
    this.lastRaw = raw;
    if (step <= MAX_STEP_MS && step >= -MAX_STEP_MS) this.last += step;
    return this.last;
  }

  /** A new publication: its first frame continues at `at` (the end of what the previous one produced). */
  restart(at: number): void {
    this.started = false;
    this.last = Math.max(at, this.last);
  }
}
