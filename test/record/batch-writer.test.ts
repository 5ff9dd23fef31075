/**
 * The batched file writer against real files, a FIFO that nobody reads (a disk that takes nothing: the event
 * loop must go on, the writer must say it is congested) and /dev/full (a write error).
 */
import { afterAll, describe, expect, it } from "bun:test";
import { open } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BATCH_BYTES, BatchWriter, type WriterListener } from "../../src/record/batch-writer.ts";
import { fileSize, scratchDir } from "../helpers/media.ts";
import { eventLoopTurns, waitFor } from "../../support/wait.ts";
import { CountingLane } from "./counting-lane.ts";
import { mulberry32 } from "../helpers/prng.ts";

const scratch = scratchDir("batch-writer");
afterAll(() => scratch.remove());

/** What a writer reported: every write's size, and its failures. */
function recorder(): WriterListener & { writes: number[]; failures: Error[] } {
  const writes: number[] = [];
  const failures: Error[] = [];
  return { writes, failures, written: (n) => writes.push(n), failed: (e) => failures.push(e) };
}

function randomBytes(seed: number, n: number): Uint8Array {
  const next = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
}

/** A FIFO with a handle that writes into it without blocking at open (O_RDWR). */
async function fifo(name: string) {
  const path = join(scratch.path, name);
  expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
  return { path, handle: open(path, "r+") };
}

/** Reads `n` bytes from a FIFO off the event loop (the writer needs the loop to issue its next write). */
async function readFifo(path: string, n: number): Promise<Uint8Array> {
  const reader = await open(path, "r");
  const out = new Uint8Array(n);
  let got = 0;
  try {
    while (got < n) {
      const { bytesRead } = await reader.read(out, got, n - got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } finally {
    await reader.close();
  }
  return out.subarray(0, got);
}

describe("the batch writer", () => {
  it("writes what was appended, in batch-sized writes, then the patches, at the right offsets", async () => {
    const path = join(scratch.path, "batches.bin");
    const events = recorder();
    const writer = new BatchWriter(open(path, "wx"), events, { batchBytes: 1000 });
    const data = randomBytes(1, 10_500);
    // Pieces of odd sizes, some larger than a batch, so appends straddle batch boundaries.
    for (let at = 0, size = 1; at < data.length; at += size, size = (size * 7 + 3) % 2500) {
      writer.append(data.subarray(at, at + size));
    }
    expect(writer.position).toBe(data.length);
    await writer.finish([
      { position: 4, bytes: Uint8Array.of(0xaa, 0xbb) },
      { position: 10_499, bytes: Uint8Array.of(0xcc) },
    ]);

    const expected = data.slice();
    expected.set([0xaa, 0xbb], 4);
    expected[10_499] = 0xcc;
    expect(Buffer.compare(readFileSync(path), expected)).toBe(0);
    expect(events.failures).toEqual([]);
    expect(events.writes).toEqual([...Array<number>(10).fill(1000), 500]);
    expect(writer.written).toBe(data.length);
  });

  it("copies at append: changing the source afterwards changes nothing", async () => {
    const path = join(scratch.path, "copied.bin");
    const writer = new BatchWriter(open(path, "wx"), recorder());
    const source = Uint8Array.of(1, 2, 3);
    writer.append(source);
    source.fill(9);
    await writer.finish();
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
  });

  it("writes an idle batch after the flush interval, without being asked", async () => {
    const path = join(scratch.path, "idle.bin");
    const writer = new BatchWriter(open(path, "wx"), recorder(), { flushIntervalMs: 30 });
    writer.append(randomBytes(2, 100));
    await waitFor(() => fileSize(path) === 100, 5_000, "the timer's flush");
    writer.append(randomBytes(3, 50));
    await waitFor(() => fileSize(path) === 150, 5_000, "the second timer's flush");
    await writer.finish();
  });

  it("writes a unit appended whole as one write of its own, in order, however large", async () => {
    const path = join(scratch.path, "whole.bin");
    const events = recorder();
    const writer = new BatchWriter(open(path, "wx"), events, { batchBytes: 4096, flushIntervalMs: 60_000 });
    const before = randomBytes(7, 1000);
    const unit = randomBytes(8, 10_000);
    writer.append(before);
    writer.appendWhole(unit);
    writer.append(Uint8Array.of(9));
    expect(writer.position).toBe(11_001);
    await writer.finish();
    // What came before goes first (the batch's tail, queued early), then the unit alone, then the rest.
    expect(events.writes).toEqual([1000, 10_000, 1]);
    expect(Buffer.compare(readFileSync(path), Buffer.concat([before, unit, Uint8Array.of(9)]))).toBe(0);
  });

  it("keeps a batch that is neither full nor old in memory", async () => {
    const path = join(scratch.path, "held.bin");
    const events = recorder();
    const handle = open(path, "wx");
    const writer = new BatchWriter(handle, events, { flushIntervalMs: 60_000 });
    writer.append(randomBytes(4, BATCH_BYTES - 1));
    // The file is open, and a write the writer wanted would have been issued by now.
    await handle;
    await eventLoopTurns(1);
    expect(fileSize(path)).toBe(0);
    writer.append(Uint8Array.of(1));
    await waitFor(() => fileSize(path) === BATCH_BYTES, 5_000, "the full batch's write");
    // One write, of the whole batch: nothing of it went before it was full.
    expect(events.writes).toEqual([BATCH_BYTES]);
    await writer.finish();
  });

  it("does not block the event loop while the disk takes nothing, says it is congested, then catches up in order", async () => {
    const { path, handle } = await fifo("stalled");
    const events = recorder();
    const writer = new BatchWriter(handle, events, { batchBytes: 64 * 1024, maxPendingBytes: 256 * 1024 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const data = randomBytes(5, 400 * 1024);
      writer.append(data);
      // A pipe holds 64 KiB: the writes after that block in the thread pool until someone reads. The timer
      // keeps ticking meanwhile, and so does this wait, both on the event loop.
      await waitFor(() => writer.congested && ticks >= 3, 5_000, "the writer to say it is congested");
      expect(writer.written).toBeLessThan(data.length);

      writer.flush();
      expect(Buffer.compare(await readFifo(path, data.length), data)).toBe(0);
      await waitFor(() => writer.written === data.length, 5_000, "the last write to complete");
      expect(writer.congested).toBe(false);
      expect(events.failures).toEqual([]);
    } finally {
      clearInterval(ticker);
      writer.abort();
    }
  });

  it("fails when the backlog passes twice the limit: the disk is not slow but stuck", async () => {
    const path = join(scratch.path, "stuck.bin");
    const events = recorder();
    // The file opens only after everything is appended, so no byte can have been written by then.
    const appended = Promise.withResolvers<void>();
    const late = appended.promise.then(() => open(path, "wx"));
    const writer = new BatchWriter(late, events, { batchBytes: 64 * 1024, maxPendingBytes: 128 * 1024 });
    for (let i = 0; i < 8; i++) writer.append(new Uint8Array(64 * 1024));
    appended.resolve();
    await waitFor(() => events.failures.length > 0, 5_000, "the failure");
    await writer.finish();
    expect(events.failures.map((e) => e.message)).toEqual(["disk too slow: 327680 bytes waiting to be written"]);
    expect(writer.written).toBe(0);
    expect(fileSize(path)).toBe(0);
  });

  it("abort gives up on the backlog at once and closes the file after the write in flight", async () => {
    const { path, handle } = await fifo("aborted");
    const lane = new CountingLane();
    const writer = new BatchWriter(handle, recorder(), { batchBytes: 100 * 1024 }, lane);
    writer.append(randomBytes(6, 300 * 1024));
    await waitFor(() => lane.started === 1, 5_000, "the first write in flight");
    writer.abort();
    // The write in flight (one batch) completes once read; nothing after it is written, and the writer's
    // end of the FIFO is closed, so the read ends at end-of-file instead of waiting.
    const got = await readFifo(path, 300 * 1024);
    expect(got.length).toBe(100 * 1024);
  });

  it("reports a write error once (ENOSPC from /dev/full), then ignores appends and finishes at once", async () => {
    const events = recorder();
    const writer = new BatchWriter(open("/dev/full", "r+"), events, { batchBytes: 1000 });
    writer.append(new Uint8Array(5000));
    await waitFor(() => events.failures.length > 0, 5_000, "the write error");
    writer.append(new Uint8Array(5000));
    await writer.finish([{ position: 0, bytes: Uint8Array.of(1) }]);
    expect(events.failures).toHaveLength(1);
    expect((events.failures[0] as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(writer.failed).toBe(events.failures[0]);
    expect(writer.written).toBe(0);
  });

  it("reports a failed open once, as soon as it fails", async () => {
    const events = recorder();
    const writer = new BatchWriter(open(join(scratch.path, "missing", "x.bin"), "wx"), events);
    writer.append(Uint8Array.of(1));
    await waitFor(() => events.failures.length > 0, 5_000, "the open error");
    await writer.finish();
    expect(events.failures.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(["ENOENT"]);
  });
});
