/**
 * The client side of every end-to-end load, run by harness.ts as its own process (pinned to its own core) so
 * that its CPU is never counted as the server's: S publishers with K players each, an optional connection
 * churn, and the server's CPU and memory read from /proc around the measured window. Prints one JSON line.
 *
 *   bun bench/load.ts '<LoadSpec as JSON>'
 */
import { Player, type PlayerProtocol, StreamWindow, isHls, median, percentile } from "./audience.ts";
import { CHURN_DEADLINE_MS, type ChurnResult, churn } from "./churn.ts";
import { CYCLE_MS, Feeds, type PublisherKind } from "./feeds.ts";
import { type HlsFigures, hlsFigures } from "./hls-viewers.ts";
import {
  type ThreadCpu,
  machineBusySeconds,
  processCpuSeconds,
  rssMiB,
  threadCpuBetween,
  threadSnapshot,
} from "./proc-stats.ts";
import { waitFor } from "../support/wait.ts";

export interface LoadSpec {
  port: number;
  serverPid: number;
  streams: number;
  playersPerStream: number;
  /** Length of the measured window, seconds. */
  seconds: number;
  publisher: PublisherKind;
  /** Real FFmpeg publishers: the FLV file they loop. */
  source?: string;
  /** How players play (default RTMP); HTTP-FLV, WS-FLV, LL-HLS and HLS from the server's HTTP port `httpPort`. */
  protocol?: PlayerProtocol;
  httpPort?: number;
  /** Processes serving the load on the clients' core (a relay sink, a webhook receiver): client CPU too. */
  helperPids?: number[];
  /** More processes of the server (cluster nodes, workers): their CPU is server CPU too. */
  serverPids?: number[];
  /** RTMP players play from these ports in turn (cluster nodes); the publishers publish to `port`. */
  playPorts?: number[];
  /** A URL read as JSON at the window's end while every player still plays (e.g. /api/connections). */
  probeUrl?: string;
  /**
   * Churn shape: `connections` churned evenly over the window (0 for the comparison run), then the server's
   * memory is sampled until `afterSeconds` past the window's end.
   */
  churn?: { connections: number; afterSeconds: number };
}

export interface LoadResult {
  players: number;
  /** Players that connected and received video; the rest are named in `errors`. */
  playing: number;
  /** Length of the measured window (load plus the drain that follows), seconds. */
  windowSeconds: number;
  /** Per playing player: window messages it received, and what it should have received. */
  received: number[];
  expected: number[];
  /** Bytes all playing players received during the window. */
  bytes: number;
  /** Server utime + stime during the window (with hook scripts it ran), seconds. */
  serverCpuSeconds: number;
  /** The server's own part of it by group of threads (JS main, GC helpers...), most first. */
  serverThreads: ThreadCpu[];
  /** With serverPids: each server process's CPU during the window (serverPid first), seconds. */
  processCpuSeconds?: number[];
  /** This process's CPU during the window plus that of real FFmpeg publishers and helpers, seconds. */
  clientCpuSeconds: number;
  /** CPU the rest of the machine used during the window (other processes, the kernel, steal), seconds. */
  otherCpuSeconds: number;
  /** null for real FFmpeg publishers, whose messages carry no send time. */
  latencyMs: Latency | null;
  /** Median over players of play request -> first video frame, ms. */
  firstFrameMs: number;
  /** Churn shape only: server RSS (MiB) when the churn starts, its highest sample, and afterSeconds later. */
  rss?: { before: number; peak: number; after: number };
  churn?: ChurnResult;
  /** HLS players only: time to the first playlist, and the server's HLS muxers' memory. */
  hls?: HlsFigures;
  /** With playPorts: the players of each port, and their latency. */
  byPort?: { port: number; playing: number; latencyMs: Latency | null }[];
  /** With probeUrl: what it answered, or null. */
  probe?: unknown;
  errors: string[];
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
}

/** Window messages that players should have received and did not, over all players. */
export function lostMessages(r: LoadResult): number {
  return r.expected.reduce((n, e, i) => n + e - r.received[i], 0);
}

const APP = "live";
const CONNECT_DEADLINE_MS = 20_000;
const OPEN_CONCURRENCY = 8;
const DRAIN_DEADLINE_MS = 5_000;
const RSS_SAMPLE_MS = 100;
const MAX_ERRORS = 20;
const PROBE_DEADLINE_MS = 3_000;

/** The server's RSS when created, and its highest sample until stop(). */
function watchMemory(pid: number): { stop(): { before: number; peak: number; after: number } } {
  const before = rssMiB(pid);
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), RSS_SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      const after = rssMiB(pid);
      return { before, peak: Math.max(peak, after), after };
    },
  };
}

/**
 * Opens every stream's publisher, OPEN_CONCURRENCY at a time (real FFmpeg processes all starting at once
 * would starve the clients' core); a stream whose publisher failed is left out and named in `errors`.
 */
async function openStreams(spec: LoadSpec, feeds: Feeds, base: string, errors: string[]): Promise<StreamWindow[]> {
  const windows: (StreamWindow | null)[] = [];
  let next = 0;
  const opener = async () => {
    for (let s = next++; s < spec.streams; s = next++) {
      const name = `s${s}`;
      windows[s] = await feeds.open(`${base}/${name}`, name).then(
        (feed) => new StreamWindow(feed),
        (err: Error) => {
          errors.push(`publisher ${name}: ${err.message}`);
          return null;
        },
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, spec.streams) }, opener));
  return windows.filter((w) => w !== null);
}

/** The RTMP port the `i`th player plays from. */
function playPort(spec: LoadSpec, i: number): number {
  return spec.playPorts === undefined ? spec.port : spec.playPorts[i % spec.playPorts.length];
}

/** Where the `i`th player, of stream `name`, plays it. */
function playUrl(spec: LoadSpec, name: string, i: number): string {
  const protocol = spec.protocol ?? "rtmp";
  if (protocol === "rtmp") return `rtmp://127.0.0.1:${playPort(spec, i)}/${APP}/${name}`;
  if (spec.httpPort === undefined) throw new Error(`${protocol} players need the server's httpPort`);
  if (isHls(protocol)) return `http://127.0.0.1:${spec.httpPort}/${APP}/${name}/index.m3u8`;
  return `${protocol === "ws-flv" ? "ws" : "http"}://127.0.0.1:${spec.httpPort}/${APP}/${name}.flv`;
}

/** Every player joins its stream, joins spread evenly over one GOP so that time to first frame shows what a
 * GOP cache saves on average. Resolves once each player has played or failed. */
async function joinPlayers(spec: LoadSpec, windows: StreamWindow[], errors: string[]): Promise<Player[]> {
  const players = windows.flatMap((w) => Array.from({ length: spec.playersPerStream }, () => new Player(w)));
  await Promise.all(
    players.map(async (player, i) => {
      await Bun.sleep(((i + 0.5) / players.length) * CYCLE_MS);
      const name = player.window.feed.name;
      await player.join(spec.protocol ?? "rtmp", playUrl(spec, name, i), errors, `player ${i} of ${name}`);
    }),
  );
  return players;
}

/** The players that received video; the rest are left out of every window (they would hold it open). */
async function watchingPlayers(players: Player[], windows: StreamWindow[], errors: string[]): Promise<Player[]> {
  const joined = players.filter((p) => p.client !== null);
  // Past the deadline, those still without video are counted as errors below.
  await waitFor(() => joined.every((p) => p.firstVideoAt > 0), CONNECT_DEADLINE_MS).catch(() => {});
  const watching = joined.filter((p) => p.firstVideoAt > 0);
  if (watching.length < joined.length) errors.push(`${joined.length - watching.length} players saw no video`);
  for (const w of windows) w.players.splice(0, w.players.length, ...w.players.filter((p) => p.firstVideoAt > 0));
  return watching;
}

type Measured = Pick<
  LoadResult,
  | "windowSeconds" | "bytes" | "serverCpuSeconds" | "serverThreads" | "processCpuSeconds" | "clientCpuSeconds" | "otherCpuSeconds"
  | "rss" | "churn"
>;

/** The measured window: load (and churn) for spec.seconds, then until every player has all of it. */
async function measure(
  spec: LoadSpec,
  url: string,
  feeds: Feeds,
  windows: StreamWindow[],
  watching: Player[],
  errors: string[],
): Promise<Measured> {
  const received = () => watching.reduce((n, p) => n + p.client!.bytesReceived, 0);
  const start = performance.now();
  const machine0 = machineBusySeconds();
  const pids = [spec.serverPid, ...(spec.serverPids ?? [])];
  const serverCpu = () => pids.map((pid) => processCpuSeconds(pid, { reapedChildren: true }));
  const othersCpu = () => feeds.cpuSeconds() + (spec.helperPids ?? []).reduce((n, pid) => n + processCpuSeconds(pid), 0);
  const cpu0 = serverCpu();
  const ownCpu0 = processCpuSeconds(spec.serverPid);
  const threads0 = threadSnapshot(spec.serverPid);
  const self0 = process.cpuUsage();
  const others0 = othersCpu();
  const bytes0 = received();
  for (const w of windows) w.open();
  const memory = spec.churn === undefined ? undefined : watchMemory(spec.serverPid);
  const churned = spec.churn?.connections ? churn(url, spec.churn.connections, spec.seconds, errors) : undefined;

  await Bun.sleep(spec.seconds * 1000 + (spec.churn === undefined ? 0 : CHURN_DEADLINE_MS));
  for (const w of windows) w.close();
  // Past the deadline, what a player still lacks is counted as lost.
  await waitFor(() => windows.every((w) => w.drained()), DRAIN_DEADLINE_MS).catch(() => {});
  const self = process.cpuUsage(self0);
  const processes = serverCpu().map((seconds, i) => seconds - cpu0[i]);
  const serverCpuSeconds = processes.reduce((a, b) => a + b, 0);
  const serverThreads = threadCpuBetween(threads0, threadSnapshot(spec.serverPid), processCpuSeconds(spec.serverPid) - ownCpu0);
  const clientCpuSeconds = (self.user + self.system) / 1e6 + othersCpu() - others0;
  const measured: Measured = {
    windowSeconds: (performance.now() - start) / 1000,
    bytes: received() - bytes0,
    serverCpuSeconds,
    serverThreads,
    processCpuSeconds: spec.serverPids === undefined ? undefined : processes,
    clientCpuSeconds,
    otherCpuSeconds: Math.max(0, machineBusySeconds() - machine0 - serverCpuSeconds - clientCpuSeconds),
    churn: await churned,
  };
  if (memory !== undefined) {
    await Bun.sleep(Math.max(0, start + (spec.seconds + (spec.churn?.afterSeconds ?? 0)) * 1000 - performance.now()));
    measured.rss = memory.stop();
  }
  return measured;
}

function latencyOf(players: Player[]): Latency {
  const latencies = Float64Array.from(players.flatMap((p) => p.latencies)).sort();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN };
}

/** The watching players of each play port (the `i`th of `players` played from the `i`th port in turn). */
function byPort(spec: LoadSpec, players: Player[], watching: Player[]): NonNullable<LoadResult["byPort"]> {
  const playing = new Set(watching);
  return (spec.playPorts ?? []).map((port) => {
    const here = players.filter((p, i) => playPort(spec, i) === port && playing.has(p));
    return { port, playing: here.length, latencyMs: spec.publisher === "real" ? null : latencyOf(here) };
  });
}

/** The probe's JSON answer; a failure is an error of the run, and null. */
async function readProbe(url: string, errors: string[]): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_DEADLINE_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.json();
  } catch (err) {
    errors.push(`probe ${url}: ${(err as Error).message}`);
    return null;
  }
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const base = `rtmp://127.0.0.1:${spec.port}/${APP}`;
  const errors: string[] = [];
  const feeds = new Feeds(spec.publisher, errors, spec.source);
  const players: Player[] = [];
  try {
    const windows = await openStreams(spec, feeds, base, errors);
    players.push(...(await joinPlayers(spec, windows, errors)));
    const watching = await watchingPlayers(players, windows, errors);
    const measured = await measure(spec, `${base}/s0`, feeds, windows, watching, errors);
    const hls = isHls(spec.protocol ?? "rtmp") ? await hlsFigures(spec.httpPort!, watching.map((p) => p.client!)) : undefined;
    const probe = spec.probeUrl === undefined ? undefined : await readProbe(spec.probeUrl, errors);
    return {
      ...measured,
      players: spec.streams * spec.playersPerStream,
      playing: watching.length,
      received: watching.map((p) => p.window.received(p)),
      expected: watching.map((p) => p.window.expected()),
      latencyMs: spec.publisher === "real" ? null : latencyOf(watching),
      firstFrameMs: median(watching.map((p) => p.firstVideoAt - p.playRequestedAt)),
      hls,
      byPort: spec.playPorts === undefined ? undefined : byPort(spec, players, watching),
      probe,
      errors: errors.slice(0, MAX_ERRORS),
    };
  } finally {
    await Promise.all(players.map((p) => p.client && Promise.race([p.client.close(), Bun.sleep(2000)])));
    await feeds.close();
  }
}

if (import.meta.main) {
  try {
    const spec = JSON.parse(process.argv[2] ?? "") as LoadSpec;
    console.log(JSON.stringify(await runLoad(spec)));
    process.exit(0);
  } catch (err) {
    console.error(`load: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  }
}
