/**
 * A frame's holders, counted from its own retain() and release() calls (Frame keeps its count to itself), so
 * tests can check that queues and caches give back every frame they take.
 */
import type { Frame } from "../../src/media/frame.ts";

const counts = new WeakMap<Frame, number>();

/** Counts `frame`'s holders from now on, starting from its creator's one reference; returns the frame. */
export function countHolders<F extends Frame>(frame: F): F {
  counts.set(frame, 1);
  const retain = frame.retain;
  const release = frame.release;
  frame.retain = function (this: F) {
    counts.set(frame, holders(frame) + 1);
    return retain.call(this);
  };
  frame.release = function (this: F) {
    release.call(this);
    counts.set(frame, holders(frame) - 1);
  };
  return frame;
}

/** Holders of a frame passed to countHolders; 0 once every one has released it. */
export function holders(frame: Frame): number {
  const count = counts.get(frame);
  if (count === undefined) throw new Error("holders() of a frame countHolders() never saw");
  return count;
}
