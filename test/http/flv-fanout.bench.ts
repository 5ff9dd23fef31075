/**
 * HTTP-FLV / WS-FLV fan-out against RTMP fan-out, in one run: one stamped synthetic publisher (bench/feeds.ts,
 * about 2.6 Mbit/s), N players of one protocol reading as fast as they can, a fresh server per load pinned to
 * CPU 0 and this process (the clients) to CPU 1. Reports server CPU seconds per GB delivered and per-message
 * latency (publisher send to player receipt) p50 / p99. Not a test: run it by hand,
 *
 *   taskset -c 1 bun test/http/flv-fanout.bench.ts [seconds=15] [players=50,200] [protocols=rtmp,http-flv,ws-flv]
 */
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { percentile } from "../../bench/audience.ts";
import { Feeds } from "../../bench/feeds.ts";
import { pinned, SERVER_CPU } from "../../bench/harness.ts";
import { processCpuSeconds } from "../../bench/proc-stats.ts";
import { readStamp, wallClock } from "../../bench/stamps.ts";
import { MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import { RtmpClient } from "../../src/relay/rtmp-client.ts";
import { freePort, scratchDir, sleep } from "../helpers/media.ts";

const ROOT = resolve(import.meta.dir, "../..");
const WARMUP_MS = 3_000;

type Protocol = "rtmp" | "http-flv" | "ws-flv";

/** One player: bytes received (on the wire) and stamped-message latencies inside the measured window. */
class Meter {
  /** Bytes received so far; RTMP players read their client's own count instead. */
  total = 0;
  wire = (): number => this.total;
  bytes = 0;
  measuring = false;
  readonly latencies: number[] = [];
  private start = 0;

  begin(): void {
    this.measuring = true;
    this.start = this.wire();
  }

  end(): void {
    this.measuring = false;
    this.bytes = this.wire() - this.start;
  }

  media(type: number, payload: Uint8Array): void {
    if (!this.measuring || (type !== MessageType.Audio && type !== MessageType.Video) || payload[1] !== 1) return;
    const stamp = readStamp(payload);
    if (stamp !== null) this.latencies.push(wallClock() - stamp.sentAt);
  }
}

/** FLV tags out of a byte stream that arrives in arbitrary pieces (only a straddling tag is copied). */
class FlvReader {
  private buf = new Uint8Array(256 * 1024);
  private length = 0;
  private headerLeft = 13;

  constructor(private readonly onTag: (type: number, data: Uint8Array) => void) {}

  push(bytes: Uint8Array): void {
    let from = bytes;
    if (this.length > 0) {
      if (this.length + bytes.length > this.buf.length) {
        const bigger = new Uint8Array(2 * (this.length + bytes.length));
        bigger.set(this.buf.subarray(0, this.length));
        this.buf = bigger;
      }
      this.buf.set(bytes, this.length);
      this.length += bytes.length;
      from = this.buf.subarray(0, this.length);
    }
    let at = Math.min(this.headerLeft, from.length);
    this.headerLeft -= at;
    while (from.length - at >= 11) {
      const size = (from[at + 1] << 16) | (from[at + 2] << 8) | from[at + 3];
      if (from.length - at < 11 + size + 4) break;
      this.onTag(from[at] & 0x1f, from.subarray(at + 11, at + 11 + size));
      at += 11 + size + 4;
    }
    // Keep the straddling tail (set() copies correctly even from a view of the same buffer).
    const rest = from.length - at;
    if (rest > this.buf.length) this.buf = new Uint8Array(2 * rest);
    if (rest > 0) this.buf.set(from.subarray(at));
    this.length = rest;
  }
}

const enum Chunked {
  Headers,
  Size,
  Data,
  DataEnd,
}

/** The body of a chunked HTTP response, as it arrives: a byte-level state machine, nothing copied. */
class Dechunker {
  private state = Chunked.Headers;
  /** Headers: how many bytes of "\r\n\r\n" were just seen. Size: the size so far. Data(End): bytes left. */
  private count = 0;

  constructor(private readonly onBody: (bytes: Uint8Array) => void) {}

  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.state === Chunked.Headers) {
        const b = bytes[at++];
        this.count = b === (this.count % 2 === 0 ? 13 : 10) ? this.count + 1 : b === 13 ? 1 : 0;
        if (this.count === 4) [this.state, this.count] = [Chunked.Size, 0];
      } else if (this.state === Chunked.Size) {
        const b = bytes[at++];
        if (b === 10) [this.state, this.count] = this.count === 0 ? [Chunked.Headers, 0] : [Chunked.Data, this.count];
        else if (b !== 13) this.count = this.count * 16 + parseInt(String.fromCharCode(b), 16);
      } else if (this.state === Chunked.Data) {
        const n = Math.min(this.count, bytes.length - at);
        this.onBody(bytes.subarray(at, at + n));
        at += n;
        this.count -= n;
        if (this.count === 0) [this.state, this.count] = [Chunked.DataEnd, 2];
      } else {
        at++;
        if (--this.count === 0) this.state = Chunked.Size;
      }
    }
  }
}

async function rtmpPlayer(port: number, meter: Meter): Promise<() => void> {
  const client = await RtmpClient.connect(`rtmp://127.0.0.1:${port}/live`, {
    timeoutMs: 10_000,
    onMessage: (m: RtmpMessage) => meter.media(m.type, m.payload),
  });
  await client.play(await client.createStream(), "bench");
  meter.wire = () => client.bytesReceived;
  return () => void client.close();
}

async function httpPlayer(port: number, meter: Meter): Promise<() => void> {
  const flv = new FlvReader((type, data) => meter.media(type, data));
  const body = new Dechunker((bytes) => flv.push(bytes));
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      binaryType: "uint8array",
      data: (_s, bytes: Uint8Array) => {
        meter.total += bytes.length;
        body.push(bytes);
      },
    },
  });
  socket.write(`GET /live/bench.flv HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  return () => socket.terminate();
}

async function wsPlayer(port: number, meter: Meter): Promise<() => void> {
  const flv = new FlvReader((type, data) => meter.media(type, data));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/live/bench.flv`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (e) => {
    const bytes = new Uint8Array(e.data as ArrayBuffer);
    meter.total += bytes.length;
    flv.push(bytes);
  };
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  return () => ws.close();
}

async function untilListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

interface Result {
  protocol: Protocol;
  players: number;
  cpuSecondsPerGB: number;
  /** Share of one core the server and the clients used over the window. */
  serverLoad: number;
  clientLoad: number;
  gbDelivered: number;
  p50: number;
  p99: number;
}

async function measure(protocol: Protocol, players: number, seconds: number): Promise<Result> {
  const rtmpPort = freePort();
  const httpPort = freePort();
  const dir = scratchDir("flv-fanout");
  const config = join(dir.path, "server.yaml");
  await Bun.write(config, `listen: "127.0.0.1:${rtmpPort}"\nlog:\n  level: warn\nhttp:\n  listen: "127.0.0.1:${httpPort}"\n`);
  const server: Subprocess = Bun.spawn([...pinned(SERVER_CPU), process.execPath, "src/cli.ts", "--config", config], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
  });
  const errors: string[] = [];
  const feeds = new Feeds("ffmpeg", errors);
  const closers: (() => void)[] = [];
  try {
    await untilListening(httpPort);
    await feeds.open(`rtmp://127.0.0.1:${rtmpPort}/live/bench`, "bench");
    const meters = Array.from({ length: players }, () => new Meter());
    const join = protocol === "rtmp" ? rtmpPlayer : protocol === "http-flv" ? httpPlayer : wsPlayer;
    const port = protocol === "rtmp" ? rtmpPort : httpPort;
    for (const meter of meters) closers.push(await join(port, meter));
    await sleep(WARMUP_MS);
    const cpuBefore = processCpuSeconds(server.pid);
    const clientBefore = processCpuSeconds(process.pid);
    for (const meter of meters) meter.begin();
    await sleep(seconds * 1000);
    for (const meter of meters) meter.end();
    const cpu = processCpuSeconds(server.pid) - cpuBefore;
    const clientCpu = processCpuSeconds(process.pid) - clientBefore;
    const bytes = meters.reduce((n, m) => n + m.bytes, 0);
    const latencies = Float64Array.from(meters.flatMap((m) => m.latencies)).sort();
    if (errors.length > 0) console.error(errors.join("\n"));
    return {
      protocol,
      players,
      cpuSecondsPerGB: cpu / (bytes / 1e9),
      serverLoad: cpu / seconds,
      clientLoad: clientCpu / seconds,
      gbDelivered: bytes / 1e9,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
  } finally {
    for (const close of closers) close();
    await feeds.close();
    server.kill("SIGTERM");
    await Promise.race([server.exited, sleep(3_000)]);
    server.kill("SIGKILL");
    dir.remove();
  }
}

const pct = (share: number): string => `${Math.round(share * 100)}%`;
const seconds = Number(process.argv[2] ?? 15);
const sizes = (process.argv[3] ?? "50,200").split(",").map(Number);
const protocols = (process.argv[4] ?? "rtmp,http-flv,ws-flv").split(",") as Protocol[];
console.log(`| players | protocol | server CPU s per GB | server / client core use | GB delivered | latency p50 / p99 ms |`);
console.log(`|---|---|---|---|---|---|`);
for (const players of sizes) {
  for (const protocol of protocols) {
    const r = await measure(protocol, players, seconds);
    console.log(
      `| ${r.players} | ${r.protocol} | ${r.cpuSecondsPerGB.toFixed(2)} | ${pct(r.serverLoad)} / ${pct(r.clientLoad)} | ${r.gbDelivered.toFixed(2)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} |`,
    );
  }
}
