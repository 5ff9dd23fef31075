/**
 * `bun run bench`: mitata micro-benchmarks of the protocol core and the fan-out path (with MB/s, or ns per
 * player-message, where a benchmark processes a known amount), then the end-to-end shapes of load, printed
 * as one Markdown table with a row per shape x server x cores (pinned, and free as deployed), the server's
 * CPU by thread, the churn and saturation tables; with variants (--with, --protocol) or --compare, a table of
 * each against the run it pairs with, and what the outputs were checked to have done. `bun run bench --
 * --help` lists the flags.
 */
import { run } from "mitata";
import { testSource } from "../support/test-source.ts";
import { registerAmf0Benches } from "./amf0.bench.ts";
import { isHls } from "./audience.ts";
import { chunkBenchBytes, registerChunkBenches } from "./chunk.bench.ts";
import { CLUSTER_LEGEND, clusterTable } from "./cluster-report.ts";
import { DEFAULT_WORKERS, runClusterShapes } from "./cluster-shapes.ts";
import { fanoutBenchDeliveries, registerFanoutBenches } from "./fanout.bench.ts";
import type { PublisherKind } from "./feeds.ts";
import { HLS_LEGEND, hlsTable } from "./hls-report.ts";
import { HLS_VIEWERS, runHlsLoads } from "./hls-shapes.ts";
import { CLIENT_CPU, type Cores, type LoadRun, SERVER_CPU, canPin, withCleanupOnExit } from "./harness.ts";
import { OUTPUTS, type Output } from "./outputs.ts";
import {
  COMPARISON_LEGEND,
  LEGEND,
  VARIANTS_LEGEND,
  churnTable,
  comparisonTable,
  loadTable,
  outputsNotes,
  saturationTable,
  threadsTable,
} from "./report.ts";
import { runSaturation } from "./saturation.ts";
import {
  ROOT,
  type ServerTarget,
  type Variant,
  floorTarget,
  nginxTarget,
  playsOver,
  rtmpServerTarget,
  withVariants,
} from "./servers.ts";
import { DEFAULT_SHAPES, type Plan, SHAPES, type ShapeName, runChurn, runLoadShapes } from "./shapes.ts";

const PROTOCOLS = ["http-flv", "ws-flv", "ll-hls", "hls"] as const;
/** --pin's values and the cores each runs every load on. */
const PIN: Record<string, Cores[]> = { both: ["pinned", "free"], on: ["pinned"], off: ["free"] };

const USAGE = `usage: bun run bench [-- FLAGS]
  --micro                micro-benchmarks only
  --shape NAME           ${SHAPES.join(" | ")}; repeatable; runs only the shapes named, no micro-benchmarks
                         (default: micro-benchmarks, then ${DEFAULT_SHAPES.join(", ")})
  --saturation           add the saturation search (long: several minutes per server)
  --nginx                run every shape on nginx-rtmp too
  --floor                run every shape on bench/floor-server.ts too: the least an RTMP fan-out on Bun does
                         (no GOP cache, stats, limits, ...), what Bun's sockets plus the RTMP codecs cost
  --server-root DIR      the rtmp-server checkout to run (default: this one)
  --compare DIR          also run every shape on the checkout in DIR (e.g. a git worktree of an older commit);
                         each run of this checkout is compared with the same run of DIR; repeatable
  --pin both|on|off      on: the server on CPU ${SERVER_CPU}, the clients and publishers on CPU ${CLIENT_CPU} (rows "pinned");
                         off: every process free on every core, as deployed (rows "free"), where the server's
                         threads beside the JS one (GC helpers, Bun's pool) run in parallel with it;
                         both (default): every load both ways
  --publisher KIND       ffmpeg (default: piecewise writes, Nagle on, like FFmpeg) | coalesced (one write per 10 ms)
  --real-ffmpeg          real "ffmpeg -re -stream_loop -1 -c copy" publishers of a generated 720p file
  --seconds S            measured window of the fan-out and publishers loads (default 15)
  --players N[,N...]     fan-out player counts (default 50,200)
  --hls-viewers N        the hls shape's viewers (and RTMP players) of one stream (default ${HLS_VIEWERS}); the hls shape:
                         N RTMP players against N LL-HLS viewers (CPU per GB, frame-to-viewer latency), fresh
                         muxers (first playlist, CPU and memory per muxer), N plain HLS viewers (with --nginx,
                         of nginx-rtmp's HLS too)
  --publishers PxK       publishers shape: P publishers with K players each (default 50x2)
  --workers N            the workers shape (implies --shape workers): the largest fan-out and the publishers load
                         on workers: 1 and workers: N (default ${DEFAULT_WORKERS}); the pull shape: an origin and an edge pulling
                         from it (the hop's latency, the origin's CPU per pulled stream); cluster3: the same loads
                         as workers on 1 node and on 3 (players spread across them)
  --repeat N             run each fan-out, publishers and churn load N times per server, the servers taking
                         turns; variants are compared on the medians (default 1)
  --with OUTPUTS         ${OUTPUTS.join(",")} or some of them: every rtmp-server run is also made with these
                         outputs on for every stream (relay to an nginx-rtmp sink, hooks to a webhook receiver
                         and an "exit 0" script; sink and receiver on the clients' CPU), rows "+rec+relay"
                         beside the plain ones, outputs checked after each run; repeatable
  --protocol P           ${PROTOCOLS.join(" | ")}: every rtmp-server run is also made with its players on FLV or
                         HLS (low-latency or plain) from http.listen, rows "(${PROTOCOLS[0]})"; repeatable; with --with,
                         every combination`;

interface Options {
  micro: boolean;
  shapes: ShapeName[];
  nginx: boolean;
  floor: boolean;
  roots: string[];
  publisher: PublisherKind;
  seconds: number;
  players: number[];
  publishers: { streams: number; players: number };
  variants: Variant[];
  repeat: number;
  cores: Cores[];
  hlsViewers: number;
  workers: number;
}

function usage(problem: string): never {
  console.error(`${problem}\n${USAGE}`);
  process.exit(2);
}

function positive(value: string | undefined, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) usage(`${flag}: expected a positive whole number, got ${value ?? "nothing"}`);
  return n;
}

/** --with's value: outputs in their canonical order, each once. */
function outputsFlag(value: string): Output[] {
  const named = value.split(",");
  const unknown = named.filter((o) => !(OUTPUTS as readonly string[]).includes(o));
  if (unknown.length > 0) usage(`--with: unknown output "${unknown[0]}" (expected ${OUTPUTS.join(", ")})`);
  return OUTPUTS.filter((o) => named.includes(o));
}

/** Every combination of a protocol (RTMP first) and a set of outputs (none first) but the plain one. */
function variants(withs: Output[][], protocols: Variant["protocol"][]): Variant[] {
  const all = ["rtmp" as const, ...protocols].flatMap((protocol) => [[], ...withs].map((outputs) => ({ outputs, protocol })));
  return all.slice(1);
}

function parseFlags(args: string[]): Options {
  const o: Options = {
    micro: false,
    shapes: [],
    nginx: false,
    floor: false,
    roots: [ROOT],
    publisher: "ffmpeg",
    seconds: 15,
    players: [50, 200],
    hlsViewers: HLS_VIEWERS,
    workers: DEFAULT_WORKERS,
    publishers: { streams: 50, players: 2 },
    variants: [],
    repeat: 1,
    cores: PIN.both,
  };
  let saturation = false;
  const withs: Output[][] = [];
  const protocols: Variant["protocol"][] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = () => args[++i] ?? usage(`${flag} needs a value`);
    if (flag === "--micro") o.micro = true;
    else if (flag === "--nginx") o.nginx = true;
    else if (flag === "--floor") o.floor = true;
    else if (flag === "--saturation") saturation = true;
    else if (flag === "--real-ffmpeg") o.publisher = "real";
    else if (flag === "--server-root") o.roots[0] = value();
    else if (flag === "--compare") o.roots.push(value());
    else if (flag === "--pin") {
      const pin = value();
      if (!Object.hasOwn(PIN, pin)) usage(`--pin: expected both, on or off, got "${pin}"`);
      o.cores = PIN[pin];
    }
    else if (flag === "--seconds") o.seconds = positive(value(), flag);
    else if (flag === "--repeat") o.repeat = positive(value(), flag);
    else if (flag === "--players") o.players = value().split(",").map((n) => positive(n, flag));
    else if (flag === "--hls-viewers") o.hlsViewers = positive(value(), flag);
    else if (flag === "--workers") {
      o.workers = positive(value(), flag);
      if (!o.shapes.includes("workers")) o.shapes.push("workers");
    }
    else if (flag === "--shape") {
      const name = value();
      if (!(SHAPES as readonly string[]).includes(name)) usage(`--shape: unknown shape "${name}"`);
      o.shapes.push(name as ShapeName);
    } else if (flag === "--publisher") {
      const kind = value();
      if (kind !== "ffmpeg" && kind !== "coalesced") usage(`--publisher: expected ffmpeg or coalesced, got "${kind}"`);
      if (o.publisher !== "real") o.publisher = kind;
    } else if (flag === "--publishers") {
      const match = /^(\d+)x(\d+)$/.exec(value());
      if (match === null) usage("--publishers: expected PxK, e.g. 50x2");
      o.publishers = { streams: positive(match[1], flag), players: positive(match[2], flag) };
    } else if (flag === "--with") {
      withs.push(outputsFlag(value()));
    } else if (flag === "--protocol") {
      const protocol = value();
      if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
        usage(`--protocol: expected ${PROTOCOLS.join(", ")}, got "${protocol}"`);
      }
      protocols.push(protocol as (typeof PROTOCOLS)[number]);
    } else if (flag === "--help" || flag === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else usage(`unknown flag ${flag}`);
  }
  o.variants = variants(withs, protocols);
  const explicit = o.shapes.length > 0;
  if (!explicit) o.shapes = [...DEFAULT_SHAPES];
  if (saturation && !o.shapes.includes("saturation")) o.shapes.push("saturation");
  // A default run starts with the micro-benchmarks; --micro runs only them; --shape picks shapes only.
  if (o.micro) o.shapes = [];
  else o.micro = !explicit;
  return o;
}

async function runMicro(): Promise<void> {
  registerChunkBenches();
  registerAmf0Benches();
  registerFanoutBenches();
  const result = await run({ colors: false });
  console.log("\nthroughput (from mean time per iteration):");
  for (const b of result.benchmarks) {
    for (const r of b.runs) {
      if (!r.stats) continue;
      const bytes = chunkBenchBytes[r.name];
      const deliveries = fanoutBenchDeliveries[r.name];
      if (bytes !== undefined) console.log(`  ${r.name.padEnd(56)} ${(bytes / (r.stats.avg / 1e9) / 1e6).toFixed(0).padStart(6)} MB/s`);
      if (deliveries !== undefined) console.log(`  ${r.name.padEnd(56)} ${(r.stats.avg / deliveries).toFixed(1).padStart(6)} ns per player-message`);
    }
  }
}

function describePublisher(kind: PublisherKind): string {
  if (kind === "real") return "real FFmpeg (ffmpeg -re -stream_loop -1 -c copy, 720p H.264 + AAC, ~2.6 Mbit/s)";
  if (kind === "coalesced") return "synthetic ~2.6 Mbit/s, coalesced (one write per 10 ms tick, TCP_NODELAY)";
  return "synthetic ~2.6 Mbit/s, written like FFmpeg (one send() per header, chunk and marker; Nagle on)";
}

/** Errors the clients reported, a few per run, so that a table row with a flag has its reason next to it. */
function errorNotes(runs: { what: string; run: LoadRun }[]): string {
  return runs
    .filter(({ run }) => run.result.errors.length > 0)
    .map(({ what, run }) => `- ${what} on ${run.target.label}: ${run.result.errors.slice(0, 5).join("; ")}`)
    .join("\n");
}

async function runShapes(o: Options): Promise<void> {
  const targets: ServerTarget[] = o.roots.flatMap((root, i) =>
    withVariants(rtmpServerTarget(root, { baseline: i > 0 }), o.variants),
  );
  if (o.nginx) targets.push(nginxTarget());
  if (o.floor) targets.push(floorTarget());
  const plan: Plan = {
    targets,
    seconds: o.seconds,
    publisher: o.publisher,
    fanoutPlayers: o.players,
    publishers: o.publishers,
    repeat: o.repeat,
    cores: canPin() ? o.cores : o.cores.filter((c) => c === "free"),
  };
  if (plan.cores.length === 0) usage("--pin on: pinned runs need taskset (util-linux), which is missing");
  if (o.publisher === "real") {
    plan.source = await testSource({ size: "1280x720", cbr: "2500k", seconds: 10 });
  }
  const unpinned = plan.cores.length < o.cores.length ? " (taskset missing: no pinned runs)" : "";
  console.log(`\nend-to-end over loopback; publisher: ${describePublisher(o.publisher)}`);
  console.log(`cores: ${plan.cores.join(", ")}${unpinned}; a fresh server per load\n`);

  const output: string[] = [];
  const notes: { what: string; run: LoadRun }[] = [];
  const loadRows = await runLoadShapes(plan, o.shapes);
  if (o.shapes.includes("hls")) loadRows.push(...(await runHlsLoads(plan, o.hlsViewers)));
  if (loadRows.length > 0) output.push(loadTable(loadRows), threadsTable(loadRows));
  notes.push(...loadRows.map((row) => ({ what: row.shape, run: row.run })));
  const churnRows = o.shapes.includes("churn") ? await runChurn(plan) : [];
  if (churnRows.length > 0) output.push(churnTable(churnRows));
  notes.push(...churnRows.flatMap((row) => [{ what: "churn", run: row.churn }, { what: "churn alone", run: row.alone }]));
  if (o.shapes.includes("saturation")) {
    const rows = await runSaturation(plan);
    output.push(saturationTable(rows));
  }
  const clusterRows = await runClusterShapes(plan, o.shapes, o.workers);
  if (clusterRows.length > 0) output.push(loadTable(clusterRows), clusterTable(clusterRows));
  notes.push(...clusterRows.map((row) => ({ what: `${row.shape} ${row.run.setup.name}`, run: row.run })));
  const comparison = comparisonTable(loadRows, churnRows);
  output.push(...[comparison, outputsNotes(loadRows, churnRows), hlsTable(loadRows)].filter((t) => t !== ""));
  const legends = [LEGEND, o.variants.length > 0 ? VARIANTS_LEGEND : "", comparison !== "" ? COMPARISON_LEGEND : ""];
  if (loadRows.some((row) => isHls(playsOver(row.run.target)))) legends.push(HLS_LEGEND);
  if (clusterRows.length > 0) legends.push(CLUSTER_LEGEND);
  output.push(legends.filter((l) => l !== "").join("\n"));
  const errors = errorNotes(notes);
  if (errors !== "") output.push(`errors reported by the clients:\n${errors}`);
  console.log(output.join("\n\n"));
}

const options = parseFlags(process.argv.slice(2));
if (options.micro) await runMicro();
if (options.shapes.length > 0) await withCleanupOnExit(() => runShapes(options));
