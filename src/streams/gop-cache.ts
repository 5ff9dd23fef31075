/**
 * The frames since the last keyframe, so that a late joiner's first video frame is a keyframe and its
 * picture starts at once. Bounded in bytes: past the bound it holds nothing until the next keyframe.
 */
import type { Encoded } from "./encoded.ts";

export class GopCache {
  private items: Encoded[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get frames(): readonly Encoded[] {
    return this.items;
  }

  add(e: Encoded): void {
    if (e.video && e.keyframe) {
      this.items = [e];
      this.bytes = e.bytes.length;
      return;
    }
    // Nothing before the first keyframe is useful to a joiner.
    if (this.items.length === 0) return;
    if (this.bytes + e.bytes.length > this.maxBytes) {
      this.clear();
      return;
    }
    this.items.push(e);
    this.bytes += e.bytes.length;
  }

  clear(): void {
    this.items = [];
    this.bytes = 0;
  }
}
