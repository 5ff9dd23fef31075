/**
 * One message of a publication (audio, video or data), stored once and shared by every output: the GOP
 * cache, RTMP players and relays (which lay it out as chunks), FLV players and the recorder (as a tag). Each
 * output lays the shared payload out in its own wire form while copying it into its write buffer, so no
 * per-output copy of the message is ever made.
 *
 * Media payloads live in pooled slabs that are reused once every holder is done, instead of fresh buffers
 * left to the garbage collector: fresh memory costs a page fault per 4 KiB when first written and an madvise
 * (with a TLB flush) when the allocator returns it, and that churn profiled at a third of the server's CPU
 * with 50 real-time publishers. So a frame is reference-counted: whoever keeps it (a cache, a send queue)
 * calls retain() and later release() exactly once; the creator's reference is released by the creator.
 *
 * A publisher's messages can be assembled straight into a slab (reserve(), the chunk reader's PayloadStore):
 * the room counts as a frame of its slab until the reader releases it, and frame() over it copies nothing.
 */
import { MessageType, type StoredPayload } from "../protocol/message.ts";

/** Slab size: a few slabs hold a stream's GOP, and a half-used slab wastes little. */
const SLAB_BYTES = 128 * 1024;
/** Larger frames (big keyframes) get a buffer of their own: they are rare, and would waste slab tails. */
const MAX_POOLED_FRAME = SLAB_BYTES;
/** Idle slabs kept for reuse across all streams (at most what was in use at a recent peak; see trim). */
const MAX_IDLE_SLABS = 1024;
/** An idle slab unused this long is let go, so memory returns to its floor after a load passes. */
const IDLE_SLAB_MS = 10_000;

let frameCount = 0;

export class Frame {
  /** Unique per frame: a cache can name a frame without holding it (and the slab it sits in) alive. */
  readonly id = ++frameCount;
  private refs = 1;

  constructor(
    /** MessageType.Audio, Video or DataAmf0. */
    readonly type: number,
    /** Milliseconds, as the publisher stamped it (32-bit, wrapping). */
    readonly timestamp: number,
    readonly payload: Uint8Array,
    /** A video keyframe (a player may start here). */
    readonly keyframe: boolean,
    /** A sequence header or metadata: configuration a receiver must not miss, never dropped. */
    readonly header: boolean,
    private readonly slab: Slab | null = null,
  ) {}

  get video(): boolean {
    return this.type === MessageType.Video;
  }

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) throw new Error("Frame released more often than retained");
    if (--this.refs === 0) this.slab?.frameReleased();
  }

  /** The same message at another timestamp (a joiner's sequence headers); only for frames not in a slab. */
  restamped(timestamp: number): Frame {
    if (this.slab !== null) throw new Error("only unpooled frames can be restamped");
    return new Frame(this.type, timestamp, this.payload, this.keyframe, this.header);
  }
}

/** How one kind of output lays a frame out on its wire (RTMP chunks for a stream id, an FLV tag, ...). */
export interface FrameLayout {
  /** Bytes the frame takes on the wire. */
  size(frame: Frame): number;
  /** Copy bytes [from, from + max) of the frame's wire form into dst at `at`; returns how many. */
  copy(frame: Frame, dst: Uint8Array, at: number, from: number, max: number): number;
  /**
   * The frame's whole wire form, when the layout has it laid out at hand (valid until the caller returns to
   * the event loop), so that a frame alone in a queue is written from there without a copy; else null.
   */
  laidOut(frame: Frame): Uint8Array | null;
}

class Slab {
  readonly bytes = new Uint8Array(SLAB_BYTES);
  /** Bump pointer. */
  used = 0;
  /** Frames in this slab not yet released. */
  live = 0;
  /** The arena allocating from this slab, while it is that arena's current slab. */
  arena: FrameArena | null = null;
  idleSince = 0;

  frameReleased(): void {
    if (--this.live > 0) return;
    // Still the arena's current slab: start it over. Otherwise nothing points into it any more.
    if (this.arena !== null) this.used = 0;
    else idle.put(this);
  }
}

/** Slabs with nothing in them, shared by every stream. */
class IdleSlabs {
  private readonly slabs: Slab[] = [];

  take(): Slab {
    return this.slabs.pop() ?? new Slab();
  }

  put(slab: Slab): void {
    slab.used = 0;
    if (this.slabs.length >= MAX_IDLE_SLABS) return;
    slab.idleSince = performance.now();
    this.slabs.push(slab);
  }

  /** Let go of slabs idle for a while (the pool is a stack: the oldest idle ones are at the bottom). */
  trim(now: number): void {
    let stale = 0;
    while (stale < this.slabs.length && now - this.slabs[stale].idleSince > IDLE_SLAB_MS) stale++;
    if (stale > 0) this.slabs.splice(0, stale);
  }
}

const idle = new IdleSlabs();

/** Called now and then (the server's sweep): memory held for reuse shrinks back once a load has passed. */
export function trimIdleSlabs(now: number): void {
  idle.trim(now);
}

/** Room in a slab for a message being assembled; it holds its slab like a frame until released. */
class Reservation implements StoredPayload {
  constructor(
    readonly bytes: Uint8Array,
    readonly slab: Slab,
  ) {}

  release(): void {
    this.slab.frameReleased();
  }
}

/** Where one publication's frames are allocated: consecutive frames share slabs, so they free together. */
export class FrameArena {
  private slab: Slab | null = null;

  /**
   * A media frame holding `payload`: the bytes themselves when `stored` is room this module reserved for
   * them, else a copy (of a view into a socket read or a reused buffer).
   */
  frame(type: number, timestamp: number, payload: Uint8Array, keyframe: boolean, stored?: StoredPayload): Frame {
    if (stored instanceof Reservation && stored.bytes === payload) {
      stored.slab.live++;
      return new Frame(type, timestamp, payload, keyframe, false, stored.slab);
    }
    if (payload.length > MAX_POOLED_FRAME) return new Frame(type, timestamp, payload.slice(), keyframe, false);
    const bytes = this.allocate(payload.length);
    bytes.set(payload);
    return new Frame(type, timestamp, bytes, keyframe, false, this.slab);
  }

  /** Room for a message of `length` bytes assembled in place (the chunk reader's PayloadStore); null when too large. */
  reserve(length: number): Reservation | null {
    return length > MAX_POOLED_FRAME ? null : new Reservation(this.allocate(length), this.slab!);
  }

  /** `n` bytes of the current slab (a fresh one when they do not fit: this.slab after), counted as a frame of it. */
  private allocate(n: number): Uint8Array {
    let slab = this.slab;
    if (slab === null || slab.used + n > SLAB_BYTES) {
      this.detach();
      slab = this.slab = idle.take();
      slab.arena = this;
    }
    const bytes = slab.bytes.subarray(slab.used, slab.used + n);
    // 8-byte alignment keeps DataView reads over a payload aligned.
    slab.used += (n + 7) & ~7;
    slab.live++;
    return bytes;
  }

  /** A copy of `frame` in this arena's current slab (a frame kept longer than the frames around it). */
  copy(frame: Frame): Frame {
    return this.frame(frame.type, frame.timestamp, frame.payload, frame.keyframe);
  }

  /** The publication ended: its current slab goes back to the pool once its frames are released. */
  close(): void {
    this.detach();
  }

  private detach(): void {
    const slab = this.slab;
    if (slab === null) return;
    slab.arena = null;
    this.slab = null;
    if (slab.live === 0) idle.put(slab);
  }
}
