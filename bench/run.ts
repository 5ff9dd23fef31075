/**
 * `bun run bench`: mitata micro-benchmarks of the protocol core (with MB/s where a benchmark processes a
 * known number of bytes), then the end-to-end loopback fan-out run. Flags: --micro (micro-benchmarks only),
 * --nginx (also run the fan-out against nginx-rtmp, which must be installed).
 */
import { run } from "mitata";
import { registerAmf0Benches } from "./amf0.bench.ts";
import { chunkBenchBytes, registerChunkBenches } from "./chunk.bench.ts";
import { runFanout } from "./fanout.ts";

const args = process.argv.slice(2);

registerChunkBenches();
registerAmf0Benches();
const result = await run({ colors: false });

console.log("\nthroughput (from mean time per iteration):");
for (const b of result.benchmarks) {
  for (const r of b.runs) {
    const bytes = chunkBenchBytes[r.name];
    if (bytes === undefined || !r.stats) continue;
    const mbps = bytes / (r.stats.avg / 1e9) / 1e6;
    console.log(`  ${r.name.padEnd(56)} ${mbps.toFixed(0).padStart(6)} MB/s`);
  }
}

if (!args.includes("--micro")) await runFanout({ nginx: args.includes("--nginx") });
