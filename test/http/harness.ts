/**
 * What the HTTP tests share: a live test server with http.listen on, a synthetic publisher (real RTMP,
 * real sequence headers, made-up frame bodies: fast, and enough for everything but decoding), a raw HTTP
 * client that can stop reading, and the CI rule for optional tools (chromium, promtool).
 */
import type { Socket } from "bun";
import type { Config } from "../../src/config/config.ts";
import type { ServerEvent } from "../../src/events/events.ts";
import { encodeData } from "../../src/protocol/command.ts";
import { Csid, MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import { RtmpClient } from "../../src/relay/rtmp-client.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { hex } from "../helpers/hex.ts";
import { type LiveTest, type LiveTestOptions, liveTest } from "../helpers/live-server.ts";
import { waitFor } from "../../support/wait.ts";

/** liveTest() with the HTTP listener on 127.0.0.1, OS-chosen port. */
export function httpLiveTest(label: string, options: LiveTestOptions = {}): LiveTest {
  return liveTest(label, {
    ...options,
    adjust: (config: Config) => {
      config.http.listen = { host: "127.0.0.1", port: 0 };
      options.adjust?.(config);
    },
  });
}

/** http://127.0.0.1:PORT of the live test's server, plus `path`. */
export function httpUrl(live: LiveTest, path = ""): string {
  const port = live.server.server.httpPort;
  if (port === null) throw new Error("the test server has no HTTP listener");
  return `http://127.0.0.1:${port}${path}`;
}

/** Every event the server emits from now on, for assertions. */
export function recordEvents(live: LiveTest): ServerEvent[] {
  const events: ServerEvent[] = [];
  live.server.server.events.subscribe((e) => events.push(e));
  return events;
}

/** The 640x360 H.264 and 44.1 kHz stereo AAC sequence headers of the fixtures. */
export const VIDEO_HEADER = hex(VIDEO[1].payload);
export const AUDIO_HEADER = hex(AUDIO[0].payload);
const FRAME_MS = 40;

/**
 * An RTMP publisher of synthetic media: onMetaData, both sequence headers, then on demand frames whose
 * bodies are filler (a keyframe every `gop` video frames, an audio frame with each).
 */
export class SyntheticPublisher {
  private sent = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  private constructor(
    readonly client: RtmpClient,
    readonly streamId: number,
    readonly gop: number,
  ) {}

  static async start(port: number, name: string, app = "live", gop = 25): Promise<SyntheticPublisher> {
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${port}/${app}`);
    const streamId = await client.createStream();
    await client.publish(streamId, name);
    const p = new SyntheticPublisher(client, streamId, gop);
    const metadata = encodeData("@setDataFrame", "onMetaData", { width: 640, height: 360, videocodecid: 7, audiocodecid: 10 });
    p.send(MessageType.DataAmf0, 0, metadata);
    p.send(MessageType.Video, 0, VIDEO_HEADER);
    p.send(MessageType.Audio, 0, AUDIO_HEADER);
    return p;
  }

  /** `count` more video frames, each followed by an audio frame; `size` bytes of video each. */
  frames(count: number, size = 1000): void {
    for (let i = 0; i < count; i++, this.sent++) {
      const ts = this.sent * FRAME_MS;
      const video = new Uint8Array(size).fill(0x55);
      video.set([this.sent % this.gop === 0 ? 0x17 : 0x27, 1, 0, 0, 0]);
      this.send(MessageType.Video, ts, video);
      this.send(MessageType.Audio, ts, Uint8Array.of(0xaf, 1, 0x21, 0x10, 0x04));
    }
  }

  /** A frame every FRAME_MS until close(). */
  realTime(size = 1000): void {
    this.timer ??= setInterval(() => this.frames(1, size), FRAME_MS);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.client.close();
  }

  private send(type: number, timestamp: number, payload: Uint8Array): void {
    const csid = type === MessageType.Audio ? Csid.Audio : type === MessageType.Video ? Csid.Video : Csid.Data;
    const message: RtmpMessage = { csid, type, streamId: this.streamId, timestamp, payload };
    this.client.send(message);
  }
}

/**
 * One HTTP/1.1 request over a bare TCP connection, with its raw reply kept: for what fetch() hides (a
 * reader that stops reading, the exact bytes, headers no client library sends, the moment the server closes).
 * The request is sent as Latin-1, one byte per character.
 */
export class RawHttpClient {
  readonly chunks: Uint8Array[] = [];
  received = 0;
  closedAt: number | null = null;
  private socket!: Socket<undefined>;

  static async request(port: number, path: string, headers: Record<string, string> = {}): Promise<RawHttpClient> {
    const client = new RawHttpClient();
    client.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        binaryType: "uint8array",
        data: (_s, bytes: Uint8Array) => {
          client.chunks.push(bytes);
          client.received += bytes.length;
        },
        close: () => {
          client.closedAt ??= performance.now();
        },
        error: () => {
          client.closedAt ??= performance.now();
        },
      },
    });
    const lines = Object.entries({ host: `127.0.0.1:${port}`, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
    client.socket.write(Buffer.from(`GET ${path} HTTP/1.1\r\n${lines.join("")}\r\n`, "latin1"));
    return client;
  }

  /** Stop reading: the kernel buffers fill, then the server's writes block. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.terminate();
  }

  /** Everything received, in one buffer. */
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }

  /** The status code, once the status line has arrived. */
  async status(timeoutMs = 10_000): Promise<number> {
    await waitFor(() => /^HTTP\/1\.1 \d{3}/.test(this.head()) || this.closedAt !== null, timeoutMs, "an HTTP status line");
    return Number(this.head().slice(9, 12));
  }

  private head(): string {
    return Buffer.from(this.chunks[0] ?? new Uint8Array(0)).toString("latin1");
  }
}

/** Reads a chunked HTTP response body (after the headers) back into its bytes. */
export function dechunk(raw: Uint8Array): Uint8Array {
  const text = Buffer.from(raw).toString("latin1");
  let at = text.indexOf("\r\n\r\n") + 4;
  const parts: Uint8Array[] = [];
  while (at > 3 && at < raw.length) {
    const eol = text.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(text.slice(at, eol), 16);
    if (!(size > 0) || eol + 2 + size > raw.length) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

const toolNotes = new Set<string>();

/**
 * Whether `tool` is on PATH. Missing, it fails the run under CI=true (a CI that skips what it should check
 * proves nothing) and skips with a note elsewhere. Use as `describe.skipIf(!requireTool("promtool"))`.
 */
export function requireTool(tool: string): boolean {
  if (Bun.which(tool) !== null) return true;
  if (process.env.CI === "true") throw new Error(`the HTTP tests need ${tool} on PATH, and CI=true forbids skipping them`);
  if (!toolNotes.has(tool)) console.warn(`NOTE: ${tool} not found on PATH: skipping the tests that need it`);
  toolNotes.add(tool);
  return false;
}
