/**
 * The players of an end-to-end load and what they measure: latency from the send time stamped in each
 * synthetic payload, loss against the stream's measured window, time to the first video frame. Players play
 * over RTMP, or over HTTP-FLV or WS-FLV, whose tags carry the same payloads, or over LL-HLS or HLS, whose
 * fMP4 samples carry them too (hls-viewers.ts). Real FFmpeg feeds carry no
 * stamps, so their loss is counted per media type against the timestamps the stream's players saw, and their
 * latency is not measured.
 */
import { MessageType, type RtmpMessage } from "../src/protocol/message.ts";
import { parseRtmpUrl } from "../src/relay/rtmp-client.ts";
import { TestRtmpClient } from "../support/rtmp-test-client.ts";
import { FlvClient } from "./flv-client.ts";
import type { Feed } from "./feeds.ts";
import { HlsViewer, type Stamps } from "./hls-viewers.ts";
import { readStamp, wallClock } from "./stamps.ts";

export type PlayerProtocol = "rtmp" | "http-flv" | "ws-flv" | "ll-hls" | "hls";

/** HLS players, low-latency or plain, of rtmp-server's hls or nginx-rtmp's. */
export const isHls = (protocol: PlayerProtocol): protocol is "ll-hls" | "hls" => protocol === "ll-hls" || protocol === "hls";

/** What a player reads of a message, whether it came in RTMP chunks or in an FLV tag. */
export type MediaMessage = Pick<RtmpMessage, "type" | "timestamp" | "payload">;

/** A player's connection, whatever its protocol. */
export interface PlayConnection {
  /** Bytes received so far, framing included. */
  readonly bytesReceived: number;
  close(): Promise<void>;
}

/** A coded frame (AVC packet type 1), not the sequence header that comes before it. */
export function isCodedVideo(m: MediaMessage): boolean {
  return m.type === MessageType.Video && m.payload[1] === 1;
}

/** Audio and video frames (AAC raw, AVC NALUs), which is what the feeds stamp; sequence headers are not. */
function isCodedFrame(m: MediaMessage): boolean {
  return (m.type === MessageType.Video || m.type === MessageType.Audio) && m.payload[1] === 1;
}

/** For connect and each command reply: hundreds of players joining at once share one client core. */
export const JOIN_TIMEOUT_MS = 10_000;

/** Index of a media type in the per-type arrays: audio 0, video 1. */
const typeIndex = (type: number): number => (type === MessageType.Audio ? 0 : 1);

/** One stream's measured window and its players. */
export class StreamWindow {
  /** Synthetic feeds: the sequence numbers [first, end) published during the window. */
  first = Infinity;
  end = Infinity;
  /** Real feeds, per media type (audio, video): the timestamps (from, to] the window covers. */
  readonly from = [Infinity, Infinity];
  readonly to = [Infinity, Infinity];
  readonly players: Player[] = [];
  readonly stamped: boolean;

  constructor(readonly feed: Feed) {
    this.stamped = !Number.isNaN(feed.sequence);
  }

  open(): void {
    if (this.stamped) this.first = this.feed.sequence;
    else for (const t of [0, 1]) this.from[t] = Math.max(...this.players.map((p) => p.lastTimestamp[t]));
  }

  /** Ends the window; drained() then says whether every player has received all of it. */
  close(): void {
    if (this.stamped) this.end = this.feed.sequence;
    else for (const t of [0, 1]) this.to[t] = Math.max(...this.players.map((p) => p.lastTimestamp[t]));
  }

  drained(): boolean {
    return this.players.every((p) =>
      this.stamped ? p.lastSequence >= this.end - 1 : p.lastTimestamp.every((ts, t) => ts >= this.to[t]),
    );
  }

  /** Window messages the player received. */
  received(player: Player): number {
    if (this.stamped) return player.received;
    return [0, 1].reduce((n, t) => n + player.windowTimestamps[t].filter((ts) => ts <= this.to[t]).length, 0);
  }

  /** Window messages every player should have received: all that were sent, or what the best player got. */
  expected(): number {
    if (this.stamped) return this.end - this.first;
    return Math.max(0, ...this.players.map((p) => this.received(p)));
  }
}

export class Player {
  client: PlayConnection | null = null;
  playRequestedAt = 0;
  firstVideoAt = 0;
  /** Stamped feeds: window messages received, the last sequence number seen, latencies (ms). */
  received = 0;
  lastSequence = -1;
  readonly latencies: number[] = [];
  /** Real feeds, per media type: the last timestamp seen, and the timestamps received inside the window. */
  readonly lastTimestamp = [-1, -1];
  readonly windowTimestamps: number[][] = [[], []];

  constructor(readonly window: StreamWindow) {
    window.players.push(this);
  }

  /** Connects and plays `url`; failures are reported through `errors` and leave `client` null. */
  async join(protocol: PlayerProtocol, url: string, errors: string[], label: string): Promise<void> {
    const options = {
      timeoutMs: JOIN_TIMEOUT_MS,
      onClose: (err?: Error) => err && errors.push(`${label}: ${err.message}`),
    };
    try {
      if (protocol === "rtmp") {
        const client = await TestRtmpClient.connect(url, { ...options, onMessage: (m) => this.onMessage(m) });
        this.client = client;
        const id = await client.createStream();
        this.playRequestedAt = wallClock();
        await client.play(id, parseRtmpUrl(url).name);
      } else if (isHls(protocol)) {
        // The first playlist request is the play request.
        this.playRequestedAt = wallClock();
        const onFrame = (type: number, timestamp: number, stamps: Stamps) => this.onFrame(type, timestamp, stamps);
        this.client = await HlsViewer.start(url, { ...options, lowLatency: protocol === "ll-hls", onFrame });
      } else {
        // The GET (or the upgrade) is the play request.
        this.playRequestedAt = wallClock();
        this.client = await FlvClient.connect(url, protocol, { ...options, onTag: (tag) => this.onMessage(tag) });
      }
    } catch (err) {
      errors.push(`${label}: ${(err as Error).message}`);
      this.client = null;
    }
  }

  private onMessage(m: MediaMessage): void {
    if (isCodedFrame(m)) this.onFrame(m.type, m.timestamp, this.window.stamped ? readStamp(m.payload) : null);
  }

  /** A coded frame arrived, with its stamps where the feed stamps them. */
  private onFrame(type: number, timestamp: number, stamps: Stamps): void {
    const arrived = wallClock();
    if (this.firstVideoAt === 0 && type === MessageType.Video) this.firstVideoAt = arrived;
    if (!this.window.stamped) return this.countByTimestamp(type, timestamp);
    if (stamps === null) return;
    this.lastSequence = stamps.sequence;
    if (stamps.sequence < this.window.first || stamps.sequence >= this.window.end) return;
    this.received++;
    this.latencies.push(arrived - stamps.sentAt);
  }

  private countByTimestamp(type: number, timestamp: number): void {
    const t = typeIndex(type);
    this.lastTimestamp[t] = timestamp;
    if (timestamp > this.window.from[t]) this.windowTimestamps[t].push(timestamp);
  }
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
}
