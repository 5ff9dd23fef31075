/**
 * Appends to one file in large batches written off the event loop (a FileHandle write runs on Bun's thread
 * pool), so a slow or stalled disk delays only this file, never the server. Bytes are copied into pooled
 * 256 KiB buffers; the filled part is written when a buffer is full or has held data for a second, one write
 * at a time and in order. A unit that must reach the file whole or not at all (an MP4 fragment) is written by
 * itself, from its own buffer. finish() writes the rest, then in-place patches, then fsyncs and closes.
 */
import type { FileHandle } from "node:fs/promises";
import { DiskLane } from "./disk-lane.ts";

/** Size of one batch buffer: one write(2) per this many bytes at most. */
export const BATCH_BYTES = 256 * 1024;
/** Longest time appended bytes wait in memory before they are written (what a crash can lose). */
export const FLUSH_INTERVAL_MS = 1000;
/** Bytes waiting for the disk past which the writer is congested (its user should drop media). */
export const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** Idle batch buffers kept for reuse across all recordings. */
const MAX_IDLE_BUFFERS = 16;

export interface WriterLimits {
  batchBytes: number;
  flushIntervalMs: number;
  /** Congested above this; above twice this the file fails (a disk that takes nothing at all). */
  maxPendingBytes: number;
}

const DEFAULT_LIMITS: WriterLimits = {
  batchBytes: BATCH_BYTES,
  flushIntervalMs: FLUSH_INTERVAL_MS,
  maxPendingBytes: MAX_PENDING_BYTES,
};

export interface WriterListener {
  /** Bytes that reached the file. */
  written(bytes: number): void;
  /** The first failure (open, write, patch, fsync, close); nothing is written after it. */
  failed(error: Error): void;
}

/** Bytes to write over what was appended earlier, at finish. */
export interface Patch {
  position: number;
  bytes: Uint8Array;
}

interface Batch {
  bytes: Uint8Array;
  used: number;
  /** Bytes already queued for writing. */
  queued: number;
  /** Queued ranges not yet written. */
  ranges: number;
  /** No longer the batch being appended to: free once its ranges are written. */
  full: boolean;
}

interface Range {
  bytes: Uint8Array;
  start: number;
  end: number;
  /** The batch the bytes are in; null for a unit written from its own buffer. */
  batch: Batch | null;
}

const idleBuffers: Uint8Array[] = [];

export class BatchWriter {
  private readonly limits: WriterLimits;
  private batch: Batch | null = null;
  private readonly queue: Range[] = [];
  private queuedBytes = 0;
  private appendedBytes = 0;
  private writtenBytes = 0;
  private writing = false;
  private timer: Timer | null = null;
  private failure: Error | null = null;
  /** finish(), abort() or a failure: nothing more is appended. */
  private closed = false;
  private aborted = false;
  private handleClosed = false;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly handle: Promise<FileHandle>,
    private readonly listener: WriterListener,
    limits: Partial<WriterLimits> = {},
    /** Where this writer's disk operations wait their turn (the Recorder shares one among all files). */
    private readonly lane = new DiskLane(),
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    // An open that fails is reported at once, not at the first flush a second later.
    handle.catch((e: unknown) => this.fail(e));
  }

  /** File size once everything appended is written: the offset the next append lands at. */
  get position(): number {
    return this.appendedBytes;
  }

  get written(): number {
    return this.writtenBytes;
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** More bytes wait for the disk than the limit: the disk is not keeping up. */
  get congested(): boolean {
    return this.pendingBytes > this.limits.maxPendingBytes;
  }

  private get pendingBytes(): number {
    const batch = this.batch;
    return this.queuedBytes + (batch === null ? 0 : batch.used - batch.queued);
  }

  /** Copies `bytes` to the end of the file (in memory until the next flush). Ignored once closed or failed. */
  append(bytes: Uint8Array): void {
    if (!this.accepts()) return;
    let at = 0;
    while (at < bytes.length) {
      const batch = (this.batch ??= this.newBatch());
      const n = Math.min(bytes.length - at, batch.bytes.length - batch.used);
      batch.bytes.set(n === bytes.length ? bytes : bytes.subarray(at, at + n), batch.used);
      batch.used += n;
      at += n;
      if (batch.used === batch.bytes.length) {
        this.queueTail(batch);
        this.retireBatch();
      }
    }
    this.appendedBytes += bytes.length;
    if (this.timer === null && this.batch !== null && this.batch.used > this.batch.queued) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.limits.flushIntervalMs);
    }
  }

  /**
   * Appends `bytes` as one write of their own, after everything appended before: a crash leaves all of them
   * in the file or none. The writer keeps `bytes` (no copy) until written: the caller must not change them.
   */
  appendWhole(bytes: Uint8Array): void {
    if (!this.accepts()) return;
    if (this.batch !== null) this.queueTail(this.batch);
    this.queueRange({ bytes, start: 0, end: bytes.length, batch: null });
    this.appendedBytes += bytes.length;
  }

  /** Queues what was appended so far for writing. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.batch !== null) this.queueTail(this.batch);
  }

  /** Writes everything appended, then `patches`, then fsync and close. Never rejects: see failed. */
  async finish(patches: readonly Patch[] = []): Promise<void> {
    this.flush();
    this.closed = true;
    this.retireBatch();
    await this.idle();
    if (this.failure !== null || this.aborted) return;
    try {
      const handle = await this.handle;
      this.handleClosed = true;
      await this.lane.run(async () => {
        for (const patch of patches) await writeAll(handle, patch.bytes, 0, patch.bytes.length, patch.position);
        await handle.sync();
        await handle.close();
      });
    } catch (e) {
      this.fail(e);
    }
  }

  /** Gives up on what is not written yet (a shutdown deadline passed) and closes the file once idle. */
  abort(): void {
    this.closed = true;
    this.aborted = true;
    this.drop();
    if (!this.writing) this.closeHandle();
  }

  /** Whether more bytes may be appended; a disk that takes nothing at all fails the file here. */
  private accepts(): boolean {
    if (this.closed || this.failure !== null) return false;
    // Checked before appending, so one message larger than the limit still fits when the disk keeps up.
    if (this.pendingBytes > 2 * this.limits.maxPendingBytes) {
      this.fail(new Error(`disk too slow: ${this.pendingBytes} bytes waiting to be written`));
      return false;
    }
    return true;
  }

  private newBatch(): Batch {
    const size = this.limits.batchBytes;
    const bytes = (size === BATCH_BYTES ? idleBuffers.pop() : undefined) ?? new Uint8Array(size);
    return { bytes, used: 0, queued: 0, ranges: 0, full: false };
  }

  private queueTail(batch: Batch): void {
    if (batch.used === batch.queued) return;
    const range = { bytes: batch.bytes, start: batch.queued, end: batch.used, batch };
    batch.queued = batch.used;
    batch.ranges++;
    this.queueRange(range);
  }

  private queueRange(range: Range): void {
    this.queue.push(range);
    this.queuedBytes += range.end - range.start;
    if (!this.writing && this.failure === null) void this.writeQueue();
  }

  /** The one loop writing the queue, in order; `writing` is cleared in the same turn as the last check. */
  private async writeQueue(): Promise<void> {
    this.writing = true;
    try {
      const handle = await this.handle;
      while (this.queue.length > 0 && this.failure === null) {
        const { bytes, start, end, batch } = this.queue[0];
        await this.lane.run(() => writeAll(handle, bytes, start, end - start, null));
        this.queue.shift();
        this.queuedBytes -= end - start;
        this.writtenBytes += end - start;
        this.listener.written(end - start);
        if (batch !== null) this.rangeDone(batch);
      }
      this.writing = false;
    } catch (e) {
      this.writing = false;
      this.fail(e);
    }
    if (this.aborted || this.failure !== null) this.closeHandle();
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private idle(): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private rangeDone(batch: Batch): void {
    if (--batch.ranges === 0 && batch.full) release(batch.bytes);
  }

  /** The current batch takes no more bytes: its buffer is reused once its last range is written. */
  private retireBatch(): void {
    const batch = this.batch;
    if (batch === null) return;
    this.batch = null;
    batch.full = true;
    if (batch.ranges === 0) release(batch.bytes);
  }

  private fail(e: unknown): void {
    if (this.failure !== null) return;
    this.failure = e instanceof Error ? e : new Error(String(e));
    this.closed = true;
    this.drop();
    if (!this.writing) this.closeHandle();
    const failure = this.failure;
    // Reported from a fresh turn: the caller may be in the middle of appending a frame.
    queueMicrotask(() => this.listener.failed(failure));
  }

  /** Forgets every byte not yet written; the one write in flight, if any, still owns its buffer. */
  private drop(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const dropped = this.queue.splice(this.writing ? 1 : 0);
    for (const range of dropped) this.queuedBytes -= range.end - range.start;
    this.retireBatch();
    for (const { batch } of dropped) {
      if (batch === null) continue;
      batch.full = true;
      this.rangeDone(batch);
    }
  }

  private closeHandle(): void {
    if (this.handleClosed) return;
    this.handleClosed = true;
    this.handle.then((h) => this.lane.run(() => h.close())).catch(() => {});
  }
}

function release(bytes: Uint8Array): void {
  if (bytes.length === BATCH_BYTES && idleBuffers.length < MAX_IDLE_BUFFERS) idleBuffers.push(bytes);
}

/**
 * Writes all of bytes[offset, offset + length): at `position`, or (null) at the file's own offset, which is
 * how appends go, so the writer works on pipes too. A write(2) may take less than asked (a disk filling up):
 * the rest is retried until an error says why.
 */
async function writeAll(
  handle: FileHandle,
  bytes: Uint8Array,
  offset: number,
  length: number,
  position: number | null,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const at = position === null ? null : position + done;
    const { bytesWritten } = await handle.write(bytes, offset + done, length - done, at);
    if (bytesWritten <= 0) throw new Error("write(2) wrote nothing");
    done += bytesWritten;
  }
}
