/**
 * One connection's outgoing bytes. Bun's socket.write() takes what the kernel accepts and drops the rest, so
 * the unsent tail is kept here and resent on drain. Pushes made during one event-loop turn are coalesced into
 * a single write (one syscall) at the end of the turn. Two kinds of item are queued, neither copied when
 * queued: bytes the connection encoded itself (control, commands), and shared media frames, which are laid
 * out in the receiver's wire form (RTMP chunks, FLV tags) only as they are copied into the write buffer.
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

const dirty: Outbox[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i].flush();
  dirty.length = 0;
}

const EMPTY = new Uint8Array(0);

export class Outbox {
  /** Bytes, or a frame laid out by layouts[i]. */
  private items: (Uint8Array | Frame)[] = [];
  private layouts: (FrameLayout | null)[] = [];
  private sizes: number[] = [];
  /** Per item: the time (ms) a droppable media item was queued, or KEEP. */
  private tags: number[] = [];
  private head = 0;
  /** Bytes of items[head] already written. */
  private headSent = 0;
  private isDirty = false;
  private closed = false;
  /** Bytes queued and not yet accepted by the kernel. */
  queuedBytes = 0;
  /** When the last write left bytes behind (0 while the socket keeps up): the write-timeout clock. */
  blockedSince = 0;
  /** Last time the kernel accepted bytes from us: one half of the idle clock. */
  lastProgress = 0;
  /** Total bytes accepted by the kernel. */
  bytesSent = 0;

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
    this.items.push(item);
    this.layouts.push(layout);
    this.sizes.push(size);
    this.tags.push(tag);
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
    for (let i = this.head + (this.headSent > 0 ? 1 : 0); i < this.items.length; i++) {
      if (this.tags[i] !== KEEP) return this.tags[i];
    }
    return 0;
  }

  /** Drop every queued media item not yet started; returns how many were dropped. */
  dropMedia(): number {
    const first = this.head + (this.headSent > 0 ? 1 : 0);
    let kept = first;
    let dropped = 0;
    for (let i = first; i < this.items.length; i++) {
      if (this.tags[i] === KEEP) {
        this.items[kept] = this.items[i];
        this.layouts[kept] = this.layouts[i];
        this.sizes[kept] = this.sizes[i];
        this.tags[kept++] = KEEP;
      } else {
        this.queuedBytes -= this.sizes[i];
        this.releaseItem(i);
        dropped++;
      }
    }
    this.truncate(kept);
    return dropped;
  }

  /** The socket can take more: resume writing. */
  drain(now: number): void {
    this.blockedSince = 0;
    this.lastProgress = now;
    this.flush();
  }

  /** Nothing more is sent; queued frames are given back. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let i = this.head; i < this.items.length; i++) this.releaseItem(i);
    this.truncate(0);
    this.head = this.headSent = this.queuedBytes = 0;
  }

  /** True once everything queued has been handed to the kernel. */
  get empty(): boolean {
    return this.head === this.items.length;
  }

  flush(): void {
    this.isDirty = false;
    if (this.closed || this.blockedSince !== 0) return;
    while (this.head < this.items.length) {
      const first = this.items[this.head];
      let length: number;
      let n: number;
      // Bytes alone in the queue, or too big to gather, go out as they are; anything else is gathered.
      if (first instanceof Uint8Array && (this.head + 1 === this.items.length || first.length - this.headSent >= COALESCE_BYTES)) {
        length = first.length - this.headSent;
        n = this.socket.write(first, this.headSent, length);
      } else {
        length = this.gather();
        n = this.socket.write(scratch, 0, length);
      }
      if (n < 0) {
        this.close();
        return;
      }
      this.advance(n);
      if (n < length) {
        this.blockedSince = performance.now();
        return;
      }
    }
    this.truncate(0);
    this.head = 0;
  }

  /** Copy queued items into the shared scratch buffer until it is full; returns the byte count. */
  private gather(): number {
    let at = 0;
    let from = this.headSent;
    for (let i = this.head; i < this.items.length && at < COALESCE_BYTES; i++) {
      const item = this.items[i];
      const room = COALESCE_BYTES - at;
      if (item instanceof Uint8Array) {
        const n = Math.min(item.length - from, room);
        scratch.set(from === 0 && n === item.length ? item : item.subarray(from, from + n), at);
        at += n;
      } else {
        at += this.layouts[i]!.copy(item, scratch, at, from, room);
      }
      from = 0;
    }
    return at;
  }

  /** Account for n bytes accepted by the kernel. */
  private advance(n: number): void {
    if (n === 0) return;
    this.bytesSent += n;
    this.queuedBytes -= n;
    this.lastProgress = performance.now();
    let left = n + this.headSent;
    while (this.head < this.items.length && left >= this.sizes[this.head]) {
      left -= this.sizes[this.head];
      this.releaseItem(this.head);
      this.head++;
    }
    this.headSent = left;
    // A subscriber that keeps up only partly never empties its queue: reclaim the written prefix now and then.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) this.compact();
  }

  private releaseItem(i: number): void {
    const item = this.items[i];
    if (!(item instanceof Uint8Array)) item.release();
    this.items[i] = EMPTY;
    this.layouts[i] = null;
  }

  private truncate(length: number): void {
    this.items.length = length;
    this.layouts.length = length;
    this.sizes.length = length;
    this.tags.length = length;
  }

  private compact(): void {
    this.items.splice(0, this.head);
    this.layouts.splice(0, this.head);
    this.sizes.splice(0, this.head);
    this.tags.splice(0, this.head);
    this.head = 0;
  }
}
