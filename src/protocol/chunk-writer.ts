/**
 * Whole messages -> chunk bytes. `encodeMessage` is stateless (FMT0 first chunk, FMT3 continuations): its
 * output means the same to every receiver, so fan-out encodes a media message once and writes the same bytes
 * to every subscriber. `ChunkWriter` keeps per-chunk-stream state for one connection and picks the smallest
 * header (FMT0-3) for control and command traffic.
 */
import type { RtmpMessage } from "./message.ts";

const EXTENDED = 0xffffff;
const MIN_CHUNK_SIZE = 1;
const MAX_CHUNK_SIZE = 0x7fffffff;

function basicHeaderSize(csid: number): number {
  if (csid < 2 || csid > 65599) throw new RangeError(`chunk stream id ${csid} out of range 2..65599`);
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Uint8Array, at: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[at] = (fmt << 6) | csid;
    return at + 1;
  }
  if (csid < 320) {
    out[at] = fmt << 6;
    out[at + 1] = csid - 64;
    return at + 2;
  }
  out[at] = (fmt << 6) | 1;
  out[at + 1] = (csid - 64) & 0xff;
  out[at + 2] = (csid - 64) >>> 8;
  return at + 3;
}

function writeU24(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 16;
  out[at + 1] = v >>> 8;
  out[at + 2] = v;
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}

/**
 * Lay out one message: a first chunk with header `fmt` whose timestamp field carries `field` (the absolute
 * timestamp for FMT0, the delta for FMT1/2/3-new), then FMT3 continuations. When the field needs the
 * extended form, every chunk, continuations included, carries the 4-byte value.
 */
function layout(msg: RtmpMessage, chunkSize: number, fmt: number, field: number, extended: boolean): Uint8Array {
  const { csid, payload } = msg;
  const length = payload.length;
  const basic = basicHeaderSize(csid);
  const ext = extended ? 4 : 0;
  const firstHeader = basic + [11, 7, 3, 0][fmt] + ext;
  const chunks = length === 0 ? 1 : Math.ceil(length / chunkSize);
  const out = new Uint8Array(firstHeader + (chunks - 1) * (basic + ext) + length);

  let at = writeBasicHeader(out, 0, fmt, csid);
  if (fmt < 3) {
    writeU24(out, at, extended ? EXTENDED : field);
    at += 3;
  }
  if (fmt < 2) {
    writeU24(out, at, length);
    out[at + 3] = msg.type;
    at += 4;
  }
  if (fmt === 0) {
    const id = msg.streamId;
    out[at] = id;
    out[at + 1] = id >>> 8;
    out[at + 2] = id >>> 16;
    out[at + 3] = id >>> 24;
    at += 4;
  }
  if (extended) {
    writeU32(out, at, field);
    at += 4;
  }
  let sent = Math.min(chunkSize, length);
  out.set(payload.subarray(0, sent), at);
  at += sent;
  while (sent < length) {
    at = writeBasicHeader(out, at, 3, csid);
    if (extended) {
      writeU32(out, at, field);
      at += 4;
    }
    const n = Math.min(chunkSize, length - sent);
    out.set(payload.subarray(sent, sent + n), at);
    at += n;
    sent += n;
  }
  return out;
}

function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new RangeError(`chunk size ${chunkSize} out of range 1..2^31-1`);
  }
}

/** Self-contained encoding (FMT0 + FMT3): the same bytes are valid for every receiver. */
export function encodeMessage(msg: RtmpMessage, chunkSize: number): Uint8Array {
  checkChunkSize(chunkSize);
  const ts = msg.timestamp >>> 0;
  return layout(msg, chunkSize, 0, ts, ts >= EXTENDED);
}

interface SentHeader {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  /** The last header was FMT1/2/3, so the receiver has a real delta to repeat on FMT3. */
  hasDelta: boolean;
}

/** Per-connection chunk writer that compresses headers against what it last sent on each chunk stream. */
export class ChunkWriter {
  private size = 128;
  private readonly sent = new Map<number, SentHeader>();

  get chunkSize(): number {
    return this.size;
  }

  /** Call after queueing our Set Chunk Size message: every later message is cut at this size. */
  set chunkSize(n: number) {
    checkChunkSize(n);
    this.size = n;
  }

  encode(msg: RtmpMessage): Uint8Array {
    const ts = msg.timestamp >>> 0;
    const length = msg.payload.length;
    const prev = this.sent.get(msg.csid);
    let fmt = 0;
    let field = ts;
    // Timestamps that go backwards, a new stream id or a first message get a full header.
    if (prev !== undefined && prev.streamId === msg.streamId && ts >= prev.timestamp) {
      field = ts - prev.timestamp;
      const sameShape = prev.length === length && prev.type === msg.type;
      if (!sameShape) fmt = 1;
      else if (prev.hasDelta && field === prev.delta) fmt = 3;
      else fmt = 2;
    }
    // FMT3 only repeats an equal delta, so this agrees with what the receiver remembers for it.
    const extended = field >= EXTENDED;
    const out = layout(msg, this.size, fmt, field, extended);
    this.sent.set(msg.csid, {
      timestamp: ts,
      delta: field,
      length,
      type: msg.type,
      streamId: msg.streamId,
      hasDelta: fmt !== 0,
    });
    return out;
  }
}
