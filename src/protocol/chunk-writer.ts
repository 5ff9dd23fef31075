/**
 * Whole messages -> chunk bytes. The self-contained form (FMT0 first chunk, FMT3 continuations) means the
 * same to every receiver: `encodeMessage` builds it, and `copySelfContained` lays a shared media frame out in
 * it while copying into each receiver's write buffer. `ChunkWriter` keeps per-chunk-stream state for one
 * connection and picks the smallest header (FMT0-3) for control and command traffic.
 */
import { writeU24, writeU32, writeU32LE } from "./bytes.ts";
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

/** A message's first chunk header and its continuation header, built by writeHeaders() (18 bytes at most each). */
const firstHeader = new Uint8Array(18);
const nextHeader = new Uint8Array(7);

/**
 * Headers of one message's wire form: a first chunk with header `fmt` whose timestamp field carries `field`
 * (the absolute timestamp for FMT0, the delta for FMT1/2/3-new), then FMT3 continuations. When the field
 * needs the extended form, every chunk, continuations included, carries the 4-byte value. Returns the two
 * header lengths packed as first << 8 | continuation.
 */
function writeHeaders(
  csid: number,
  type: number,
  streamId: number,
  length: number,
  fmt: number,
  field: number,
  extended: boolean,
): number {
  let at = writeBasicHeader(firstHeader, 0, fmt, csid);
  if (fmt < 3) {
    writeU24(firstHeader, at, extended ? EXTENDED : field);
    at += 3;
  }
  if (fmt < 2) {
    writeU24(firstHeader, at, length);
    firstHeader[at + 3] = type;
    at += 4;
  }
  if (fmt === 0) {
    writeU32LE(firstHeader, at, streamId);
    at += 4;
  }
  let next = writeBasicHeader(nextHeader, 0, 3, csid);
  if (extended) {
    writeU32(firstHeader, at, field);
    writeU32(nextHeader, next, field);
    at += 4;
    next += 4;
  }
  return (at << 8) | next;
}

function wireSize(length: number, chunkSize: number, headers: number): number {
  const chunks = length === 0 ? 1 : Math.ceil(length / chunkSize);
  return (headers >>> 8) + (chunks - 1) * (headers & 0xff) + length;
}

/**
 * Copy bytes [from, from + max) of a message's wire form (see writeHeaders) into dst at `at`, clipped to
 * its end; returns how many were copied. Copying any range lets a sender lay a shared payload out as chunks
 * straight into its own write buffer, and resume mid-chunk after a short write, without a buffer per message.
 */
function copyWire(
  payload: Uint8Array,
  chunkSize: number,
  headers: number,
  dst: Uint8Array,
  at: number,
  from: number,
  max: number,
): number {
  const first = headers >>> 8;
  const next = headers & 0xff;
  const end = Math.min(wireSize(payload.length, chunkSize, headers), from + max);
  let pos = from;
  let out = at;
  if (pos < first) {
    const n = Math.min(first, end) - pos;
    copyHeader(firstHeader, pos, n, dst, out);
    pos += n;
    out += n;
  }
  // After the first header, the body is the payload's first chunk, then (continuation header + chunk) each.
  const stride = chunkSize + next;
  while (pos < end) {
    const body = pos - first;
    const k = body < chunkSize ? 0 : 1 + Math.floor((body - chunkSize) / stride);
    let inChunk = k === 0 ? body : body - chunkSize - (k - 1) * stride;
    if (k > 0) {
      if (inChunk < next) {
        const n = Math.min(next - inChunk, end - pos);
        copyHeader(nextHeader, inChunk, n, dst, out);
        pos += n;
        out += n;
        continue;
      }
      inChunk -= next;
    }
    const offset = k * chunkSize + inChunk;
    const n = Math.min(Math.min((k + 1) * chunkSize, payload.length) - offset, end - pos);
    dst.set(n === payload.length ? payload : payload.subarray(offset, offset + n), out);
    pos += n;
    out += n;
  }
  return out - at;
}

/**
 * Header bytes (18 at most) copied one by one: a subarray for set() would be an allocation per chunk per
 * receiver, on the path every fan-out write takes.
 */
function copyHeader(header: Uint8Array, from: number, n: number, dst: Uint8Array, at: number): void {
  for (let i = 0; i < n; i++) dst[at + i] = header[from + i];
}

/** Lay one message out in a buffer of its own. */
function layout(msg: RtmpMessage, chunkSize: number, fmt: number, field: number, extended: boolean): Uint8Array {
  const headers = writeHeaders(msg.csid, msg.type, msg.streamId, msg.payload.length, fmt, field, extended);
  const out = new Uint8Array(wireSize(msg.payload.length, chunkSize, headers));
  copyWire(msg.payload, chunkSize, headers, out, 0, 0, out.length);
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

/** Bytes of the self-contained wire form (FMT0 + FMT3) of a message of `length` bytes on `csid`. */
export function selfContainedSize(csid: number, timestamp: number, length: number, chunkSize: number): number {
  const ext = timestamp >>> 0 >= EXTENDED ? 4 : 0;
  const basic = basicHeaderSize(csid);
  return wireSize(length, chunkSize, ((basic + 11 + ext) << 8) | (basic + ext));
}

/**
 * Copy bytes [from, from + max) of a message's self-contained wire form (what encodeMessage returns) into
 * dst at `at`, without building it; returns how many were copied (fewer at its end). Scalar arguments, so
 * that a sender laying out a shared frame for each of its players allocates nothing.
 */
export function copySelfContained(
  csid: number,
  type: number,
  streamId: number,
  timestamp: number,
  payload: Uint8Array,
  chunkSize: number,
  dst: Uint8Array,
  at: number,
  from: number,
  max: number,
): number {
  const ts = timestamp >>> 0;
  const headers = writeHeaders(csid, type, streamId, payload.length, 0, ts, ts >= EXTENDED);
  return copyWire(payload, chunkSize, headers, dst, at, from, max);
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
