/**
 * The frames since the last keyframe, so that a late joiner's first video frame is a keyframe and its
 * picture starts at once. Bounded in bytes: past the bound it holds nothing until the next keyframe. It
 * holds a reference on every frame it keeps, and gives it back when the frame leaves the cache.
 */
import type { Frame } from "../media/frame.ts";

export class GopCache {
  private items: Frame[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get frames(): readonly Frame[] {
    return this.items;
  }

  add(frame: Frame): void {
    if (frame.video && frame.keyframe) {
      this.clear();
      this.items.push(frame.retain());
      this.bytes = frame.payload.length;
      return;
    }
    // Nothing before the first keyframe is useful to a joiner.
    if (this.items.length === 0) return;
    if (this.bytes + frame.payload.length > this.maxBytes) {
      this.clear();
      return;
    }
    this.items.push(frame.retain());
    this.bytes += frame.payload.length;
  }

  clear(): void {
    for (const frame of this.items) frame.release();
    this.items = [];
    this.bytes = 0;
  }
}
