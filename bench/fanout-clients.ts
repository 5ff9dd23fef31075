/**
 * The client side of the fan-out benchmark, run by fanout.ts as its own process (pinned to its own core) so
 * that its CPU is never counted as the server's: one real-time publisher, N players reading as fast as they
 * can, and the server's CPU read from /proc around the measured window. Prints one JSON line (ClientsResult).
 *
 *   bun bench/fanout-clients.ts <port> <players> <seconds> <server pid>
 */
import { readFileSync } from "node:fs";
import { encodeData } from "../src/protocol/command.ts";
import { EcmaArray } from "../src/protocol/amf0.ts";
import { Csid, MessageType } from "../src/protocol/message.ts";
import type { RtmpMessage } from "../src/protocol/message.ts";
import { RtmpClient } from "../src/relay/rtmp-client.ts";
import { syntheticStream } from "./stream-fixture.ts";

export interface ClientsResult {
  players: number;
  /** Players that connected and received video; the rest are named in `errors`. */
  playing: number;
  /** Length of the measured window (publishing plus the drain that follows), seconds. */
  windowSeconds: number;
  /** Media messages published during the window: what every player should receive. */
  expected: number;
  /** Per playing player: window messages it received. */
  received: number[];
  /** Bytes all players received during the window. */
  bytes: number;
  /** Server utime + stime during the window, seconds. */
  serverCpuSeconds: number;
  /** This process's own CPU during the window, seconds: near windowSeconds means the clients were the limit. */
  clientCpuSeconds: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Median over players of play request -> first video frame, ms. */
  firstFrameMs: number;
  errors: string[];
}

const APP = "live";
const NAME = "fanout";
/** Where each media payload carries its send time (float64 ms) and sequence number (u32), after the 2-byte
 * FLV codec header that the server reads. */
const SENT_AT = 2;
const SEQUENCE = 10;
/** The stream is a 2 s cycle (one GOP) repeated, so any warm-up length needs no more memory. */
const CYCLE_MS = 2000;
const TICK_MS = 10;
const CONNECT_DEADLINE_MS = 20_000;
const DRAIN_DEADLINE_MS = 5_000;

const now = () => performance.timeOrigin + performance.now();

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat, after the parenthesised name). */
export function processCpuSeconds(pid: number, clockTicks: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
}

/** Sequence headers and metadata that a real encoder sends first; the server caches them for late joiners. */
function preamble(streamId: number): RtmpMessage[] {
  const avcConfig = [
    ...[0x17, 0, 0, 0, 0], // keyframe, AVC, sequence header, composition time 0
    ...[1, 0x64, 0, 0x1f, 0xff, 0xe1], // configuration version, profile, compatibility, level, NALU length 4, 1 SPS
    ...[0, 4, 0x67, 0x64, 0, 0x1f], // the SPS
    ...[1, 0, 4, 0x68, 0xee, 0x3c, 0x80], // 1 PPS
  ];
  const metadata = new EcmaArray({
    width: 1280,
    height: 720,
    framerate: 30,
    videocodecid: 7,
    videodatarate: 2500,
    audiocodecid: 10,
    audiodatarate: 128,
    audiosamplerate: 44100,
  });
  const base = { streamId, timestamp: 0 };
  return [
    {
      ...base,
      csid: Csid.Data,
      type: MessageType.DataAmf0,
      payload: encodeData("@setDataFrame", "onMetaData", metadata),
    },
    // On the chunk streams syntheticStream uses for video (6) and audio (4), as one encoder would.
    { ...base, csid: 6, type: MessageType.Video, payload: Uint8Array.from(avcConfig) },
    { ...base, csid: 4, type: MessageType.Audio, payload: Uint8Array.from([0xaf, 0x00, 0x12, 0x10]) },
  ];
}

class Player {
  client: RtmpClient | null = null;
  playRequestedAt = 0;
  firstVideoAt = 0;
  received = 0;
  lastSequence = -1;
  readonly latencies: number[] = [];

  constructor(private readonly window: { first: number; end: number }) {}

  onMessage(m: RtmpMessage): void {
    if (m.type !== MessageType.Audio && m.type !== MessageType.Video) return;
    const arrived = now();
    const p = m.payload;
    // A coded frame (AVC packet type 1), not the sequence header that comes before it.
    if (m.type === MessageType.Video && p[1] === 1 && this.firstVideoAt === 0) this.firstVideoAt = arrived;
    if (p.length < SEQUENCE + 4) return;
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const sequence = view.getUint32(SEQUENCE);
    this.lastSequence = sequence;
    if (sequence < this.window.first || sequence >= this.window.end) return;
    this.received++;
    this.latencies.push(arrived - view.getFloat64(SENT_AT));
  }
}

async function waitUntil(done: () => boolean, deadlineMs: number): Promise<boolean> {
  const deadline = performance.now() + deadlineMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(20);
  }
  return true;
}

export async function runClients(
  port: number,
  players: number,
  seconds: number,
  serverPid: number,
): Promise<ClientsResult> {
  const clockTicks = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  const url = `rtmp://127.0.0.1:${port}/${APP}/${NAME}`;
  const errors: string[] = [];
  // Sequence numbers of the measured window; `end` stays open until the publisher stops.
  const window = { first: Infinity, end: Infinity };
  const all: RtmpClient[] = [];
  let pacer: ReturnType<typeof setInterval> | undefined;
  try {
    const publisher = await RtmpClient.connect(url, {
      onClose: (err) => err && errors.push(`publisher: ${err.message}`),
    });
    all.push(publisher);
    const streamId = await publisher.createStream();
    await publisher.publish(streamId, NAME);
    for (const m of preamble(streamId)) publisher.send(m);

    const cycle = syntheticStream(CYCLE_MS / 1000);
    let sequence = 0;
    let index = 0;
    let cycleStart = 0;
    const startedAt = performance.now();
    pacer = setInterval(() => {
      const elapsed = performance.now() - startedAt;
      while (cycleStart + cycle[index].timestamp <= elapsed) {
        const m = cycle[index];
        const view = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
        view.setFloat64(SENT_AT, now());
        view.setUint32(SEQUENCE, sequence++);
        // The writer copies the payload into chunk bytes, so the cycle's buffers can be stamped again.
        publisher.send({ ...m, streamId, timestamp: cycleStart + m.timestamp });
        if (++index === cycle.length) {
          index = 0;
          cycleStart += CYCLE_MS;
        }
      }
    }, TICK_MS);

    const audience = Array.from({ length: players }, () => new Player(window));
    await Promise.all(
      audience.map(async (player, i) => {
        // Joins spread evenly over one GOP, so time to first frame shows what a GOP cache saves on average.
        await Bun.sleep(((i + 0.5) / players) * CYCLE_MS);
        try {
          const client = await RtmpClient.connect(url, {
            onMessage: (m) => player.onMessage(m),
            onClose: (err) => err && errors.push(`player ${i}: ${err.message}`),
          });
          all.push(client);
          player.client = client;
          const id = await client.createStream();
          player.playRequestedAt = now();
          await client.play(id, NAME);
        } catch (err) {
          errors.push(`player ${i}: ${(err as Error).message}`);
        }
      }),
    );
    const playing = audience.filter((p) => p.client !== null);
    await waitUntil(() => playing.every((p) => p.firstVideoAt > 0), CONNECT_DEADLINE_MS);
    const watching = playing.filter((p) => p.firstVideoAt > 0);
    if (watching.length < playing.length) errors.push(`${playing.length - watching.length} players saw no video`);

    const received = () => watching.reduce((n, p) => n + p.client!.bytesReceived, 0);
    const windowStart = performance.now();
    const cpu0 = processCpuSeconds(serverPid, clockTicks);
    const self0 = process.cpuUsage();
    const bytes0 = received();
    window.first = sequence;
    await Bun.sleep(seconds * 1000);
    window.end = sequence;
    clearInterval(pacer);
    await waitUntil(() => watching.every((p) => p.lastSequence >= window.end - 1), DRAIN_DEADLINE_MS);
    const bytes = received() - bytes0;
    const serverCpuSeconds = processCpuSeconds(serverPid, clockTicks) - cpu0;
    const self = process.cpuUsage(self0);
    const windowSeconds = (performance.now() - windowStart) / 1000;

    const latencies = Float64Array.from(watching.flatMap((p) => p.latencies)).sort();
    return {
      players,
      playing: watching.length,
      windowSeconds,
      expected: window.end - window.first,
      received: watching.map((p) => p.received),
      bytes,
      serverCpuSeconds,
      clientCpuSeconds: (self.user + self.system) / 1e6,
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN },
      firstFrameMs: median(watching.map((p) => p.firstVideoAt - p.playRequestedAt)),
      errors: errors.slice(0, 20),
    };
  } finally {
    clearInterval(pacer);
    await Promise.all(all.map((c) => Promise.race([c.close(), Bun.sleep(2000)])));
  }
}

if (import.meta.main) {
  const [port, players, seconds, pid] = process.argv.slice(2).map(Number);
  if (![port, players, seconds, pid].every((n) => Number.isInteger(n) && n > 0)) {
    console.error("usage: bun bench/fanout-clients.ts <port> <players> <seconds> <server pid>");
    process.exit(2);
  }
  try {
    console.log(JSON.stringify(await runClients(port, players, seconds, pid)));
    process.exit(0);
  } catch (err) {
    console.error(`fanout-clients: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  }
}
