/**
 * Viewers of each stream on this node, whatever they play it over (RTMP, RTMPS, HTTP-FLV, WS-FLV, HLS),
 * counted from the play_start and play_stop every kind of player emits once each: what ends an idle pull,
 * what keeps asking for a stream players wait for, and the `players` of /api/cluster.
 */
import type { EventChannel } from "../events/events.ts";

export class ViewerCount {
  /** Keys with at least one viewer; a key leaves at zero, so this holds no more keys than there are viewers. */
  private readonly counts = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(
    events: EventChannel,
    /** A stream's count changed (after the change). */
    private readonly onChange: (key: string, count: number) => void,
  ) {
    this.unsubscribe = events.subscribe((event) => {
      const key = event.stream_key;
      if (key === undefined) return;
      if (event.type === "play_start") this.add(key, 1);
      else if (event.type === "play_stop") this.add(key, -1);
    });
  }

  of(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** The keys that have viewers now. */
  keys(): IterableIterator<string> {
    return this.counts.keys();
  }

  close(): void {
    this.unsubscribe();
  }

  private add(key: string, delta: number): void {
    const count = Math.max(0, this.of(key) + delta);
    if (count === 0) this.counts.delete(key);
    else this.counts.set(key, count);
    this.onChange(key, count);
  }
}
