/**
 * Server-wide counters and histograms, kept where things happen (sessions, players, streams) and read by
 * /metrics. Plain numbers: incrementing one costs nothing, and nothing here allocates after start.
 */

/** Counts of observations per upper bound (Prometheus `le` buckets), plus their sum and count. */
export class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

export class ServerStats {
  /** Every byte received from any connection, counted as it arrives (the collection cadence follows it too). */
  bytesIn = 0;
  /** Bytes sent to connections that have closed (live ones are summed at read time). */
  closedBytesOut = 0;
  /** Media frames players did not get: skipped past the lag bound or waiting for a keyframe. */
  framesDropped = 0;
  authAllowed = 0;
  authDenied = 0;
  /** Play request to the first video keyframe queued for the player, in seconds. */
  readonly firstFrame = new Histogram([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  /** Age of a player's oldest queued frame, sampled once per second per player, in seconds. */
  readonly playerLag = new Histogram([0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5]);
}
