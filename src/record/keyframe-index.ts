/**
 * The keyframe index a recording's onMetaData carries (`keyframes: { times, filepositions }`, as libavformat
 * and Flash-era players read it), within a fixed capacity: when it fills up, every other entry is dropped and
 * from then on only every other keyframe is kept, so a long recording stays seekable at a coarser step.
 */

export class KeyframeIndex {
  /** Seconds from the file's start. */
  readonly times: number[] = [];
  /** File offset of each keyframe's tag (its tag header, which is where libavformat expects it). */
  readonly positions: number[] = [];
  /** Only keyframes whose number is a multiple of this are indexed. */
  private stride = 1;
  private keyframes = 0;

  constructor(readonly capacity: number) {
    if (capacity < 2) throw new Error(`a keyframe index needs room for at least 2 entries, got ${capacity}`);
  }

  add(timeMs: number, position: number): void {
    const number = this.keyframes++;
    if (number % this.stride !== 0) return;
    if (this.times.length === this.capacity) {
      this.halve();
      if (number % this.stride !== 0) return;
    }
    this.times.push(timeMs / 1000);
    this.positions.push(position);
  }

  get length(): number {
    return this.times.length;
  }

  /** Keeps entries 0, 2, 4, ...: the keyframes numbered by multiples of the doubled stride. */
  private halve(): void {
    let kept = 0;
    for (let i = 0; i < this.times.length; i += 2) {
      this.times[kept] = this.times[i];
      this.positions[kept] = this.positions[i];
      kept++;
    }
    this.times.length = kept;
    this.positions.length = kept;
    this.stride *= 2;
  }
}
