/**
 * A recording's index of the places a player may start (an FLV's keyframes for its onMetaData, an MP4's
 * fragments that open with a sync sample for its sidx and mfra), within a fixed capacity: when it fills up,
 * every other entry is dropped and from then on only every other place is kept, so a long recording stays
 * seekable at a coarser step.
 */

export class KeyframeIndex<Entry> {
  /** In the order added; the first is always kept. */
  readonly entries: Entry[] = [];
  /** Only places whose number is a multiple of this are indexed. */
  private stride = 1;
  private added = 0;

  constructor(readonly capacity: number) {
    if (capacity < 2) throw new Error(`a keyframe index needs room for at least 2 entries, got ${capacity}`);
  }

  add(entry: Entry): void {
    const number = this.added++;
    if (number % this.stride !== 0) return;
    if (this.entries.length === this.capacity) {
      this.halve();
      if (number % this.stride !== 0) return;
    }
    this.entries.push(entry);
  }

  get length(): number {
    return this.entries.length;
  }

  /** Keeps entries 0, 2, 4, ...: the places numbered by multiples of the doubled stride. */
  private halve(): void {
    let kept = 0;
    for (let i = 0; i < this.entries.length; i += 2) this.entries[kept++] = this.entries[i];
    this.entries.length = kept;
    this.stride *= 2;
  }
}
