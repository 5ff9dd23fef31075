/**
 * One connection's outgoing bytes. Bun's socket.write() takes what the kernel accepts and drops the rest, so
 * the unsent tail is kept here and resent on drain. Pushes made during one event-loop turn are coalesced into
 * a single write (one syscall) at the end of the turn. Queued items are references to shared, immutable
 * chunk bytes (fan-out encodes once), so queueing costs no copy.
 */

export interface Writable {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
}

/** Items with this tag are never dropped (control, commands, metadata, sequence headers). */
export const KEEP = -1;

/** Bytes one coalesced write may gather; larger items are written on their own. */
const COALESCE_BYTES = 256 * 1024;
const scratch = new Uint8Array(COALESCE_BYTES);

const dirty: Outbox[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i].flush();
  dirty.length = 0;
}

export class Outbox {
  private items: Uint8Array[] = [];
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
    this.items.push(bytes);
    this.tags.push(tag);
    this.queuedBytes += bytes.length;
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
        this.tags[kept++] = KEEP;
      } else {
        this.queuedBytes -= this.items[i].length;
        dropped++;
      }
    }
    this.items.length = kept;
    this.tags.length = kept;
    return dropped;
  }

  /** The socket can take more: resume writing. */
  drain(now: number): void {
    this.blockedSince = 0;
    this.lastProgress = now;
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.items = [];
    this.tags = [];
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
      if (this.head + 1 === this.items.length || first.length - this.headSent >= COALESCE_BYTES) {
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
    this.items.length = 0;
    this.tags.length = 0;
    this.head = 0;
  }

  /** Copy queued items into the shared scratch buffer, as many as fit; returns the byte count. */
  private gather(): number {
    let at = 0;
    for (let i = this.head; i < this.items.length; i++) {
      // flush() writes a head item of COALESCE_BYTES or more directly, so the first item always fits.
      const item = i === this.head ? this.items[i].subarray(this.headSent) : this.items[i];
      if (at + item.length > COALESCE_BYTES) break;
      scratch.set(item, at);
      at += item.length;
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
    while (this.head < this.items.length && left >= this.items[this.head].length) {
      left -= this.items[this.head].length;
      this.items[this.head] = EMPTY;
      this.head++;
    }
    this.headSent = left;
    // A subscriber that keeps up only partly never empties its queue: reclaim the written prefix now and then.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) this.compact();
  }

  private compact(): void {
    this.items.splice(0, this.head);
    this.tags.splice(0, this.head);
    this.head = 0;
  }
}

const EMPTY = new Uint8Array(0);
