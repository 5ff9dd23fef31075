/**
 * The disk lane: operations run a few at a time, in the order they asked, and a failure frees its slot; with
 * it, recordings stuck on a stalled disk hold one of Bun's fs pool threads, and the server's other file
 * operations still run.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { BatchWriter } from "../../src/record/batch-writer.ts";
import { DiskLane } from "../../src/record/disk-lane.ts";
import { CountingLane } from "./counting-lane.ts";
import { scratchDir } from "../helpers/media.ts";
import { eventLoopTurns, waitFor, within } from "../../support/wait.ts";

const scratch = scratchDir("disk-lane");
afterAll(() => scratch.remove());

/** An operation the test finishes by hand. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe("the disk lane", () => {
  it("runs `width` operations at once and the rest in the order they came", async () => {
    const lane = new DiskLane(2);
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    const done = gates.map((g, i) =>
      lane.run(async () => {
        started.push(i);
        await g.opened;
        return i;
      }),
    );
    // The lane starts operations from promise callbacks: one turn of the event loop runs every one due.
    await eventLoopTurns(1);
    expect(started).toEqual([0, 1]);
    gates[1].open();
    await done[1];
    await eventLoopTurns(1);
    expect(started).toEqual([0, 1, 2]);
    gates[0].open();
    gates[2].open();
    gates[3].open();
    expect(await Promise.all(done)).toEqual([0, 1, 2, 3]);
    expect(started).toEqual([0, 1, 2, 3]);
  });

  it("frees the slot of an operation that fails", async () => {
    const lane = new DiskLane(1);
    const failed = lane.run(() => Promise.reject(new Error("EIO")));
    const next = lane.run(async () => "ran");
    await expect(failed).rejects.toThrow("EIO");
    expect(await next).toBe("ran");
  });

  it("keeps two writers stuck on stalled disks to one fs pool thread: other file operations go on", async () => {
    const lane = new CountingLane();
    const fifos = ["a", "b"].map((name) => join(scratch.path, name));
    for (const path of fifos) expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
    const writers = fifos.map((path) => new BatchWriter(open(path, "r+"), { written() {}, failed() {} }, {}, lane));
    // More than a pipe holds: each writer's write blocks until someone reads.
    for (const writer of writers) {
      writer.append(new Uint8Array(200 * 1024));
      writer.flush();
    }
    // The first write is in the pool, stuck; the second waits in the lane.
    await waitFor(() => lane.started === 1, 5_000, "the first write to start");
    // Without the lane both writes would each hold a pool thread: on a 2-core machine, all of them.
    expect((await within(stat(scratch.path), 3_000, "a stat while both writers are stuck")).isDirectory()).toBe(true);
    expect(lane.started).toBe(1);

    // Drain both FIFOs at once, so no thread stays blocked after the test. Which writer the lane let through
    // first depends on timing, and the other's write waits for it: draining one FIFO and then the other hung
    // this test whenever the second writer went first (one run in four). Blocking readers in child processes
    // take no fs pool thread.
    const size = 200 * 1024;
    const readers = fifos.map((path) => Bun.spawn(["head", "-c", String(size), path], { stdout: "pipe" }));
    for (const reader of readers) expect((await new Response(reader.stdout).arrayBuffer()).byteLength).toBe(size);
    for (const writer of writers) {
      await waitFor(() => writer.written === size, 5_000, "the write to complete");
      writer.abort();
    }
  });
});
