/** Chunk reader and writer micro-benchmarks on a realistic publisher stream cut into 4096-byte chunks. */
import { bench, do_not_optimize, group } from "mitata";
import { ChunkReader } from "../src/protocol/chunk-reader.ts";
import { ChunkWriter, encodeMessage } from "../src/protocol/chunk-writer.ts";
import { syntheticStream } from "./stream-fixture.ts";

const CHUNK_SIZE = 4096;
/** Bun hands the data callback slices of up to 64-512 KiB; 64 KiB is the common case on loopback. */
const SLICE = 64 * 1024;

const messages = syntheticStream(10);
const writer = new ChunkWriter();
writer.chunkSize = CHUNK_SIZE;
const parts = messages.map((m) => writer.encode(m));
const wire = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
parts.reduce((at, p) => (wire.set(p, at), at + p.length), 0);
const slices: Uint8Array[] = [];
for (let at = 0; at < wire.length; at += SLICE) slices.push(wire.slice(at, at + SLICE));

/** Bytes each benchmark processes per iteration, so run.ts can print MB/s. */
export const chunkBenchBytes: Record<string, number> = {
  "ChunkReader: 10 s of 2.6 Mbit/s A/V in 64 KiB slices": wire.length,
  "encodeMessage (fan-out, FMT0): 10 s of A/V": wire.length,
  "ChunkWriter (stateful): 10 s of A/V": wire.length,
};

export function registerChunkBenches(): void {
  group("chunk layer", () => {
    bench("ChunkReader: 10 s of 2.6 Mbit/s A/V in 64 KiB slices", () => {
      let n = 0;
      // Writer's Set Chunk Size is not in `wire`, so tell the reader through a leading message.
      const reader = new ChunkReader(() => n++);
      reader.push(SET_CHUNK_SIZE);
      for (const s of slices) reader.push(s);
      do_not_optimize(n);
    });
    bench("encodeMessage (fan-out, FMT0): 10 s of A/V", () => {
      for (const m of messages) do_not_optimize(encodeMessage(m, CHUNK_SIZE));
    });
    bench("ChunkWriter (stateful): 10 s of A/V", () => {
      const w = new ChunkWriter();
      w.chunkSize = CHUNK_SIZE;
      for (const m of messages) do_not_optimize(w.encode(m));
    });
  });
}

const SET_CHUNK_SIZE = Uint8Array.of(0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, CHUNK_SIZE >> 8, CHUNK_SIZE & 0xff);
