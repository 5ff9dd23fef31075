/**
 * A frame as RTMP chunks for one receiver: FMT0 first chunk (valid whatever that receiver saw before), FMT3
 * continuations, on chunk streams of their own per message type so they never disturb the header state of
 * the connection's own writer. One layout object per chunk size and stream id, shared by the players and
 * relays that use them (RtmpLayout.of); a frame's chunks are laid out once for all of them (a small cache of
 * recent frames), so a fan-out copies each frame whole to each player, or has it written from there when it
 * is alone in a player's queue (laidOut), and allocates nothing per player.
 */
import { copySelfContained, selfContainedSize } from "../protocol/chunk-writer.ts";
import { Csid, MessageType } from "../protocol/message.ts";
import type { Frame, FrameLayout } from "./frame.ts";

function csidFor(type: number): number {
  return type === MessageType.Audio ? Csid.Audio : type === MessageType.Video ? Csid.Video : Csid.Data;
}

/**
 * Frames laid out lately, whole, in one ring of bytes. Laying a frame out costs a copy call per chunk and the
 * headers between them, several times one plain copy, and every player of a fan-out asks for the same bytes
 * within the same turn (laid out for each, that was about 5% of the CPU per GB of a 200-player fan-out). The
 * ring never grows and holds no frame for long: a new form overwrites the oldest. An entry per frame id (the
 * last ENTRIES frames), for one chunk size and stream id: a receiver of another asks for another entry and
 * lays out anew.
 */
const RING_BYTES = 1024 * 1024;
/** Larger frames are laid out for each receiver, so that one frame never flushes the whole ring. */
const MAX_CACHED_BYTES = RING_BYTES / 8;
/** A power of two: an entry is picked by the frame id's low bits. */
const ENTRIES = 128;
const ring = new Uint8Array(RING_BYTES);
let ringAt = 0;
/** Frame ids (0: empty), not frames, so that the cache keeps no frame's slab alive. */
const cachedFrames = new Float64Array(ENTRIES);
const cachedChunkSizes = new Float64Array(ENTRIES);
const cachedStreamIds = new Float64Array(ENTRIES);
const cachedAt = new Int32Array(ENTRIES);
/**
 * A frame goes into the ring at its RING_AFTER-th request only: laid out into the ring and copied from there, a
 * frame costs one copy more than laid out for each receiver, which only pays with more receivers than that (50
 * publishers × 2 players cost 10% more CPU per GB with every frame in the ring; 200 players 10% less).
 */
const RING_AFTER = 3;
const askedFrames = new Float64Array(ENTRIES);
const askedCounts = new Int32Array(ENTRIES);
/** Each entry's bytes in the ring: a view made once per frame, not once per receiver. */
const cachedForms: Uint8Array[] = new Array<Uint8Array>(ENTRIES).fill(ring.subarray(0, 0));

/** The last frame sized and for which chunk size: a fan-out asks it for every player in a row. */
let sizedFrame = 0;
let sizedChunkSize = 0;
let sizedBytes = 0;

/** Layouts handed out by RtmpLayout.of, one per chunk size and stream id (a few in all: bounded all the same). */
const shared = new Map<string, RtmpLayout>();
const MAX_SHARED = 64;

export class RtmpLayout implements FrameLayout {
  constructor(
    readonly chunkSize: number,
    readonly streamId: number,
  ) {}

  /**
   * The layout for a receiver of this chunk size and stream id, the same object for all of them: a layout
   * holds nothing of its own, and a fan-out reads it for every frame and player, one object in the CPU's
   * caches rather than one per player.
   */
  static of(chunkSize: number, streamId: number): RtmpLayout {
    const key = `${chunkSize}/${streamId}`;
    let layout = shared.get(key);
    if (layout === undefined) {
      layout = new RtmpLayout(chunkSize, streamId);
      if (shared.size < MAX_SHARED) shared.set(key, layout);
    }
    return layout;
  }

  size(frame: Frame): number {
    if (frame.id !== sizedFrame || this.chunkSize !== sizedChunkSize) {
      sizedFrame = frame.id;
      sizedChunkSize = this.chunkSize;
      sizedBytes = selfContainedSize(csidFor(frame.type), frame.timestamp, frame.payload.length, this.chunkSize);
    }
    return sizedBytes;
  }

  copy(frame: Frame, dst: Uint8Array, at: number, from: number, max: number): number {
    const entry = this.cached(frame);
    if (entry < 0) return this.layOut(frame, dst, at, from, max);
    const form = cachedForms[entry];
    const n = Math.max(0, Math.min(form.length - from, max));
    dst.set(n === form.length ? form : form.subarray(from, from + n), at);
    return n;
  }

  laidOut(frame: Frame): Uint8Array | null {
    const entry = this.cached(frame);
    return entry < 0 ? null : cachedForms[entry];
  }

  private layOut(frame: Frame, dst: Uint8Array, at: number, from: number, max: number): number {
    const { type } = frame;
    return copySelfContained(csidFor(type), type, this.streamId, frame.timestamp, frame.payload, this.chunkSize, dst, at, from, max);
  }

  /** The entry holding the frame as this layout lays it out, laid out there first if need be; -1: lay it out here. */
  private cached(frame: Frame): number {
    const entry = frame.id & (ENTRIES - 1);
    if (cachedFrames[entry] === frame.id && cachedChunkSizes[entry] === this.chunkSize && cachedStreamIds[entry] === this.streamId) {
      return entry;
    }
    // Held for receivers of another chunk size or stream id: replacing it would only swap which side lays out anew.
    if (cachedFrames[entry] === frame.id) return -1;
    if (askedFrames[entry] !== frame.id) {
      askedFrames[entry] = frame.id;
      askedCounts[entry] = 0;
    }
    if (++askedCounts[entry] < RING_AFTER) return -1;
    const size = this.size(frame);
    if (size > MAX_CACHED_BYTES) return -1;
    if (ringAt + size > RING_BYTES) ringAt = 0;
    // The entries whose bytes the new form overwrites are gone.
    for (let i = 0; i < ENTRIES; i++) {
      if (cachedFrames[i] !== 0 && cachedAt[i] < ringAt + size && ringAt < cachedAt[i] + cachedForms[i].length) {
        cachedFrames[i] = 0;
      }
    }
    this.layOut(frame, ring, ringAt, 0, size);
    cachedFrames[entry] = frame.id;
    cachedChunkSizes[entry] = this.chunkSize;
    cachedStreamIds[entry] = this.streamId;
    cachedAt[entry] = ringAt;
    cachedForms[entry] = ring.subarray(ringAt, ringAt + size);
    ringAt += size;
    return entry;
  }
}
