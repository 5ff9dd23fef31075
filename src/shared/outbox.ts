/**
 * One connection's outgoing bytes. Bun's socket.write() takes what the kernel accepts and drops the rest, so
 * the unsent tail is kept here and resent on drain. Pushes made during one event-loop turn are coalesced into
 * a single write (one syscall) at the end of the turn. Two kinds of item are queued, neither copied when
 * queued: bytes the connection encoded itself (control, commands), and shared media frames, which are laid
 * out in the receiver's wire form (RTMP chunks, FLV tags) only as they are copied into the write buffer.
 *
 * Every connection's queue is a list of entries in one shared pool. A fan-out queues each frame to every
 * player, and between two frames the kernel's sending evicts the players' state from the CPU caches, so what
 * queueing touches is what it costs: an array per player was two or three cache misses per frame and
 * player (~100 ns each, against ~40 ns for the rest of the queueing), while the pool hands out the entries
 * freed last, which are still cached, and allocates nothing once it has grown to the load.
 */
import type { Frame, FrameLayout } from "../media/frame.ts";

export interface Writable {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
}

/** Items with this tag are never dropped (control, commands, metadata, sequence headers). */
export const KEEP = -1;

/** Bytes one coalesced write may gather; larger items are written over several. */
const COALESCE_BYTES = 256 * 1024;
const scratch = new Uint8Array(COALESCE_BYTES);

/**
 * The pool: entry e is pool[e * STRIDE + ITEM ... NEXT]: the item (bytes, or a frame), the frame's layout
 * (null for bytes), the item's size on the wire, its tag, and the next entry of the same queue (or of the
 * free list), NONE at the end.
 */
const ITEM = 0;
const LAYOUT = 1;
const SIZE = 2;
const TAG = 3;
const NEXT = 4;
const STRIDE = 5;
const NONE = -1;
/** A pool with no entry in use and more than this many is let go (a backlog or a burst has passed). */
const KEEP_ENTRIES = 4096;

type Entry = Uint8Array | Frame | FrameLayout | number | null;
let pool: Entry[] = [];
let freeList = NONE;
let entriesInUse = 0;

function takeEntry(): number {
  entriesInUse++;
  const e = freeList;
  if (e === NONE) {
    pool.push(null, null, 0, 0, NONE);
    return pool.length / STRIDE - 1;
  }
  freeList = pool[e * STRIDE + NEXT] as number;
  return e;
}

/** Give entry e back to the pool; its item is released first by the caller. */
function freeEntry(e: number): void {
  const at = e * STRIDE;
  pool[at + ITEM] = pool[at + LAYOUT] = null;
  pool[at + NEXT] = freeList;
  freeList = e;
  entriesInUse--;
}

function next(e: number): number {
  return pool[e * STRIDE + NEXT] as number;
}

const dirty: Outbox[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  const now = performance.now();
  for (let i = 0; i < dirty.length; i++) dirty[i].flush(now);
  dirty.length = 0;
  if (entriesInUse === 0 && pool.length > KEEP_ENTRIES * STRIDE) {
    pool = [];
    freeList = NONE;
  }
}

export class Outbox {
  private closed = false;
  private isDirty = false;
  /** When the last write left bytes behind (0 while the socket keeps up): the write-timeout clock. */
  blockedSince = 0;
  /** The queue's first and last entries in the pool (NONE when empty). */
  private first = NONE;
  private last = NONE;
  /** Bytes of the first item already written. */
  private headSent = 0;
  /** Bytes queued and not yet accepted by the kernel. */
  queuedBytes = 0;
  /** Total bytes accepted by the kernel. */
  bytesSent = 0;
  /** Last time the kernel accepted bytes from us: one half of the idle clock. */
  lastProgress = 0;

  constructor(private readonly socket: Writable) {}

  /** Queue bytes; they go out at the end of this event-loop turn (or after the next drain). */
  push(bytes: Uint8Array, tag: number = KEEP): void {
    if (this.closed) return;
    this.enqueue(bytes, null, bytes.length, tag);
  }

  /** Queue a shared frame in the wire form `layout` gives it; the outbox holds it until it is written. */
  pushFrame(frame: Frame, layout: FrameLayout, tag: number = KEEP): void {
    if (this.closed) return;
    this.enqueue(frame.retain(), layout, layout.size(frame), tag);
  }

  private enqueue(item: Uint8Array | Frame, layout: FrameLayout | null, size: number, tag: number): void {
    const e = takeEntry();
    const at = e * STRIDE;
    pool[at + ITEM] = item;
    pool[at + LAYOUT] = layout;
    pool[at + SIZE] = size;
    pool[at + TAG] = tag;
    pool[at + NEXT] = NONE;
    if (this.last === NONE) this.first = e;
    else pool[this.last * STRIDE + NEXT] = e;
    this.last = e;
    this.queuedBytes += size;
    if (!this.isDirty && this.blockedSince === 0) {
      this.isDirty = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flushDirty);
      }
    }
  }

  /** Queue time of the oldest droppable item not yet started, or 0 if there is none. */
  oldestMediaTime(): number {
    let e = this.first;
    if (e !== NONE && this.headSent > 0) e = next(e);
    for (; e !== NONE; e = next(e)) {
      const tag = pool[e * STRIDE + TAG] as number;
      if (tag !== KEEP) return tag;
    }
    return 0;
  }

  /** Drop every queued media item not yet started; returns how many were dropped. */
  dropMedia(): number {
    let dropped = 0;
    let kept = NONE;
    let e = this.first;
    if (e !== NONE && this.headSent > 0) {
      kept = e;
      e = next(e);
    }
    while (e !== NONE) {
      const after = next(e);
      if (pool[e * STRIDE + TAG] === KEEP) {
        kept = e;
      } else {
        this.queuedBytes -= pool[e * STRIDE + SIZE] as number;
        if (kept === NONE) this.first = after;
        else pool[kept * STRIDE + NEXT] = after;
        this.release(e);
        dropped++;
      }
      e = after;
    }
    this.last = kept;
    return dropped;
  }

  /** The socket can take more: resume writing. */
  drain(now: number): void {
    this.blockedSince = 0;
    this.lastProgress = now;
    this.flush(now);
  }

  /** Nothing more is sent; queued frames are given back. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let e = this.first; e !== NONE; ) {
      const after = next(e);
      this.release(e);
      e = after;
    }
    this.first = this.last = NONE;
    this.headSent = this.queuedBytes = 0;
  }

  /** True once everything queued has been handed to the kernel. */
  get empty(): boolean {
    return this.first === NONE;
  }

  /** Write what the socket takes; `now` is performance.now(), read once for every outbox flushed together. */
  flush(now: number = performance.now()): void {
    this.isDirty = false;
    if (this.closed || this.blockedSince !== 0) return;
    while (this.first !== NONE) {
      const at = this.first * STRIDE;
      const first = pool[at + ITEM] as Uint8Array | Frame;
      const layout = pool[at + LAYOUT] as FrameLayout | null;
      const left = (pool[at + SIZE] as number) - this.headSent;
      const alone = this.first === this.last;
      // Bytes alone in the queue, or too big to gather, and a frame alone whose wire form is at hand, go out
      // as they are; anything else is gathered.
      const whole =
        layout === null
          ? alone || left >= COALESCE_BYTES
            ? (first as Uint8Array)
            : null
          : alone
            ? layout.laidOut(first as Frame)
            : null;
      let length: number;
      let n: number;
      if (whole !== null) {
        length = left;
        n = this.socket.write(whole, this.headSent, length);
      } else {
        length = this.gather();
        n = this.socket.write(scratch, 0, length);
      }
      if (n < 0) {
        this.close();
        return;
      }
      if (n > 0) this.advance(n, now);
      if (n < length) {
        this.blockedSince = now;
        return;
      }
    }
  }

  /** Copy queued items into the shared scratch buffer until it is full; returns the byte count. */
  private gather(): number {
    let to = 0;
    let from = this.headSent;
    for (let e = this.first; e !== NONE && to < COALESCE_BYTES; e = next(e)) {
      const at = e * STRIDE;
      const room = COALESCE_BYTES - to;
      const layout = pool[at + LAYOUT] as FrameLayout | null;
      if (layout === null) {
        const bytes = pool[at + ITEM] as Uint8Array;
        const n = Math.min(bytes.length - from, room);
        scratch.set(from === 0 && n === bytes.length ? bytes : bytes.subarray(from, from + n), to);
        to += n;
      } else {
        to += layout.copy(pool[at + ITEM] as Frame, scratch, to, from, room);
      }
      from = 0;
    }
    return to;
  }

  /** Account for n > 0 bytes accepted by the kernel. */
  private advance(n: number, now: number): void {
    this.bytesSent += n;
    this.queuedBytes -= n;
    this.lastProgress = now;
    let left = n + this.headSent;
    while (this.first !== NONE) {
      const e = this.first;
      const size = pool[e * STRIDE + SIZE] as number;
      if (left < size) break;
      left -= size;
      this.first = next(e);
      this.release(e);
    }
    if (this.first === NONE) this.last = NONE;
    this.headSent = left;
  }

  /** Give entry e's item back (a frame is released) and the entry to the pool. */
  private release(e: number): void {
    const at = e * STRIDE;
    if (pool[at + LAYOUT] !== null) (pool[at + ITEM] as Frame).release();
    freeEntry(e);
  }
}
