/**
 * The stream core without sockets: a fake connection (FakePeer) whose real Outbox writes into memory, read
 * back as FLV tags; a registry wired to a captured log and an event list; and a publisher's messages made
 * the way a session hands them over (media assembled in the publication's own slab room, as the chunk reader does).
 */
import { EventChannel, type ServerEvent } from "../../src/events/events.ts";
import { flvFileHeader } from "../../src/media/flv.ts";
import { encodeData } from "../../src/protocol/command.ts";
import { MessageType } from "../../src/protocol/message.ts";
import type { Peer, Publication } from "../../src/shared/hub.ts";
import { Outbox } from "../../src/shared/outbox.ts";
import { ServerStats } from "../../src/shared/server-stats.ts";
import { parseStreamName, type StreamName } from "../../src/shared/stream-name.ts";
import { type RegistrySettings, StreamRegistry } from "../../src/streams/registry.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { concat } from "../../support/bytes.ts";
import { type FlvTag, readFlvTags } from "../../support/flv-tags.ts";
import { hex } from "../helpers/hex.ts";
import { capturedLog, type LogCapture } from "../helpers/log-capture.ts";

/** A connection as the registry sees it, with an in-memory socket that can stall like a player that stopped reading. */
export class FakePeer implements Peer {
  readonly protocol = "fake";
  readonly outbox: Outbox;
  readonly log = capturedLog().log;
  lastReadAt = performance.now();
  relayHops = 0;
  /** What publishChanged told it, in order: "published live/a" or "unpublished live/a". */
  readonly notices: string[] = [];
  /** How it was closed; null while open. */
  closed: { reason: string; discard: boolean } | null = null;
  /** While false its socket takes nothing: the outbox keeps every byte queued. */
  reading = true;
  private readonly written: Uint8Array[] = [];

  constructor(readonly id: string) {
    this.outbox = new Outbox({
      write: (data, offset = 0, length = data.length - offset) => {
        if (this.closed !== null) return -1;
        if (!this.reading) return 0;
        this.written.push(data.slice(offset, offset + length));
        return length;
      },
    });
  }

  /** Read again: what the stalled socket held back goes out. */
  resume(): void {
    this.reading = true;
    this.outbox.drain(performance.now());
  }

  /** Everything its socket took so far, as FLV tags (its frames are laid out with FlvLayout). */
  tags(): FlvTag[] {
    this.outbox.flush();
    return readFlvTags(concat(flvFileHeader(true, true), ...this.written));
  }

  /** tags() in the shorthand of `shape`. */
  received(): string[] {
    return this.tags().map(shape);
  }

  publishChanged(_streamId: number, streamKey: string, published: boolean): void {
    this.notices.push(`${published ? "published" : "unpublished"} ${streamKey}`);
  }

  close(reason: string, discard = false): void {
    this.closed ??= { reason, discard };
    this.outbox.close();
  }
}

/**
 * A tag as a short word: D (data) / VH (video header) / AH (audio header) / K (video keyframe) / V (other
 * video) / A (audio), then its timestamp. "D0 VH480 AH480 A480 K1000" reads as a join.
 */
export function shape(tag: FlvTag): string {
  const d = tag.data;
  if (tag.type === MessageType.DataAmf0) return `D${tag.timestamp}`;
  if (tag.type === MessageType.Audio) return `${d[1] === 0 ? "AH" : "A"}${tag.timestamp}`;
  if (d[1] === 0) return `VH${tag.timestamp}`;
  return `${d[0] >> 4 === 1 ? "K" : "V"}${tag.timestamp}`;
}

/** Real H.264 and AAC sequence headers (FFmpeg's), so the stream detects the codecs as it would live. */
export const VIDEO_HEADER = hex(VIDEO[1].payload);
export const AUDIO_HEADER = hex(AUDIO[0].payload);

/** An AVC NAL-unit packet of `size` bytes: 0x17 for a keyframe, 0x27 for an inter frame. */
export function videoFrame(keyframe: boolean, size = 600): Uint8Array {
  const p = new Uint8Array(size).fill(0x5a);
  p.set([keyframe ? 0x17 : 0x27, 0x01, 0, 0, 0]);
  return p;
}

/** A raw AAC packet of `size` bytes. */
export function audioFrame(size = 200): Uint8Array {
  const p = new Uint8Array(size).fill(0xa5);
  p.set([0xaf, 0x01]);
  return p;
}

/** What a publisher sends, handed to a publication the way a session does. */
export class Publisher {
  /** The ArrayBuffers of the slabs this publication's media was assembled in. */
  readonly slabs = new Set<ArrayBufferLike>();

  constructor(readonly publication: Publication) {}

  /** A media message assembled in room the publication reserved, released after delivery as the chunk reader does. */
  media(type: number, timestamp: number, payload: Uint8Array): void {
    const room = this.publication.reserve(payload.length);
    if (room === null) {
      this.publication.media({ csid: 6, type, streamId: 1, timestamp, payload });
      return;
    }
    room.bytes.set(payload);
    this.slabs.add(room.bytes.buffer);
    this.publication.media({ csid: 6, type, streamId: 1, timestamp, payload: room.bytes, stored: room });
    room.release();
  }

  video(timestamp: number, keyframe = false): void {
    this.media(MessageType.Video, timestamp, videoFrame(keyframe));
  }

  audio(timestamp: number): void {
    this.media(MessageType.Audio, timestamp, audioFrame());
  }

  /** @setDataFrame("onMetaData", {...}), as OBS and FFmpeg send it, then both sequence headers at `timestamp`. */
  start(timestamp = 0): void {
    const metadata = encodeData("@setDataFrame", "onMetaData", { width: 640, height: 360 });
    this.publication.data({ csid: 4, type: MessageType.DataAmf0, streamId: 1, timestamp, payload: metadata }, "@setDataFrame");
    this.media(MessageType.Video, timestamp, VIDEO_HEADER);
    this.media(MessageType.Audio, timestamp, AUDIO_HEADER);
  }

  /** 25 fps video from `from` to `to` (exclusive), a keyframe every `gopMs`, and audio 20 ms after each picture. */
  av(from: number, to: number, gopMs = 1000): void {
    for (let t = from; t < to; t += 40) {
      this.video(t, t % gopMs === 0);
      this.audio(t + 20);
    }
  }
}

export const SETTINGS: RegistrySettings = {
  chunkSize: 4096,
  gopCache: true,
  gopCacheMaxBytes: 16 * 1024 * 1024,
  maxSubscriberLagMs: 500,
  publishConflict: "reject",
  publisherIdleMs: 5_000,
};

/** A registry as the server makes one, with no outputs; its log, events and stats are kept for assertions. */
export function registryUnderTest(settings: Partial<RegistrySettings> = {}): {
  registry: StreamRegistry;
  logs: LogCapture;
  events: ServerEvent[];
  stats: ServerStats;
} {
  const { log, logs } = capturedLog();
  const channel = new EventChannel(log);
  const events: ServerEvent[] = [];
  channel.subscribe((e) => events.push(e));
  const stats = new ServerStats();
  const registry = new StreamRegistry({ ...SETTINGS, ...settings }, { log, events: channel, outputs: () => [], stats });
  return { registry, logs, events, stats };
}

/** "live/a" as a session would have parsed it. */
export function streamName(key: string): StreamName {
  const [app, ...rest] = key.split("/");
  const name = parseStreamName(app, rest.join("/"));
  if (name === null) throw new Error(`not a stream key: ${key}`);
  return name;
}
