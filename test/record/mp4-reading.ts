/**
 * Reading back an MP4 recording, written from ISO/IEC 14496-12 (not from our writer): its top-level boxes, the
 * tracks of its moov, each fragment's runs, the sidx and tfra entries, and the whole boxes at the start of a
 * file cut short by a crash; plus what FFmpeg and mediabunny make of it.
 */
import { ALL_FORMATS, CustomSource, EncodedPacketSink, Input } from "mediabunny";
import { readFileSync } from "node:fs";
import { run } from "../../support/children.ts";
import { type Box, boxes, readFragment, readInit } from "../../support/fmp4.ts";

export interface Fragment extends ReturnType<typeof readFragment> {
  /** File offset of the moof. */
  offset: number;
}

export interface SegmentIndex {
  referenceId: number;
  timescale: number;
  earliestPresentationTime: number;
  /** File offset of the first byte the references cover. */
  start: number;
  references: Array<{ size: number; duration: number; startsWithSap: boolean }>;
}

export interface RandomAccessEntry {
  time: number;
  moofOffset: number;
  traf: number;
  trun: number;
  sample: number;
}

export interface Mp4Recording {
  bytes: Uint8Array;
  /** Top-level boxes in order, with their offsets. */
  top: Array<Box & { offset: number }>;
  tracks: ReturnType<typeof readInit>["tracks"];
  fragments: Fragment[];
  sidx: SegmentIndex[];
  /** tfra entries by track id; empty without an mfra. */
  tfra: Map<number, RandomAccessEntry[]>;
  /** The size the mfro at the end gives, or null without one. */
  mfroSize: number | null;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

export function readMp4(bytes: Uint8Array): Mp4Recording {
  const top: Mp4Recording["top"] = [];
  let offset = 0;
  for (const box of boxes(bytes)) {
    top.push({ ...box, offset });
    offset += box.bytes.length;
  }
  const init = bytes.subarray(0, top[0].bytes.length + top[1].bytes.length);
  const fragments: Fragment[] = [];
  const sidx: SegmentIndex[] = [];
  const tfra = new Map<number, RandomAccessEntry[]>();
  let mfroSize: number | null = null;
  for (const [i, box] of top.entries()) {
    if (box.type === "moof") {
      const mdat = top[i + 1];
      fragments.push({ ...readFragment(bytes.subarray(box.offset, mdat.offset + mdat.bytes.length)), offset: box.offset });
    } else if (box.type === "sidx") {
      sidx.push(readSegmentIndex(box.body, box.offset + box.bytes.length));
    } else if (box.type === "mfra") {
      for (const part of boxes(box.body)) {
        if (part.type === "tfra") {
          const [trackId, entries] = readTrackRandomAccess(part.body);
          tfra.set(trackId, entries);
        } else if (part.type === "mfro") {
          mfroSize = view(part.body).getUint32(4);
        }
      }
    }
  }
  return { bytes, top, tracks: readInit(init).tracks, fragments, sidx, tfra, mfroSize };
}

export function readMp4File(path: string): Mp4Recording {
  return readMp4(new Uint8Array(readFileSync(path)));
}

/** A sidx's body (after the box header), the box ending at file offset `end`. */
export function readSegmentIndex(body: Uint8Array, end: number): SegmentIndex {
  const v = view(body);
  const version = v.getUint8(0);
  const wide = version === 1;
  const ept = wide ? Number(v.getBigUint64(12)) : v.getUint32(12);
  const firstOffset = wide ? Number(v.getBigUint64(20)) : v.getUint32(16);
  let at = wide ? 28 : 20;
  at += 2; // reserved
  const count = v.getUint16(at);
  at += 2;
  const references = [];
  for (let i = 0; i < count; i++, at += 12) {
    const size = v.getUint32(at);
    if (size & 0x80000000) throw new Error("sidx reference to a sidx");
    references.push({ size, duration: v.getUint32(at + 4), startsWithSap: (v.getUint32(at + 8) & 0x80000000) !== 0 });
  }
  return {
    referenceId: v.getUint32(4),
    timescale: v.getUint32(8),
    earliestPresentationTime: ept,
    start: end + firstOffset,
    references,
  };
}

/** A tfra's body (after the box header): its track id and entries. */
export function readTrackRandomAccess(body: Uint8Array): [number, RandomAccessEntry[]] {
  const v = view(body);
  const wide = v.getUint8(0) === 1;
  const sizes = v.getUint32(8);
  const widths = [(sizes >> 4) & 3, (sizes >> 2) & 3, sizes & 3].map((n) => n + 1);
  const read = (at: number, width: number) => {
    let n = 0;
    for (let i = 0; i < width; i++) n = n * 256 + body[at + i];
    return n;
  };
  const entries: RandomAccessEntry[] = [];
  let at = 16;
  for (let i = 0, count = v.getUint32(12); i < count; i++) {
    const time = wide ? Number(v.getBigUint64(at)) : v.getUint32(at);
    const moofOffset = wide ? Number(v.getBigUint64(at + 8)) : v.getUint32(at + 4);
    at += wide ? 16 : 8;
    const [traf, trun, sample] = widths.map((width) => {
      const n = read(at, width);
      at += width;
      return n;
    });
    entries.push({ time, moofOffset, traf, trun, sample });
  }
  return [v.getUint32(4), entries];
}

/**
 * What a recording being written (or cut short by a crash) holds so far: its whole boxes read as above, or null
 * before its init segment is on disk.
 */
export function readMp4SoFar(path: string): Mp4Recording | null {
  const bytes = new Uint8Array(readFileSync(path));
  const whole = bytes.subarray(0, wholeBoxesLength(bytes));
  const [ftyp, moov] = whole.length === 0 ? [] : boxes(whole);
  return ftyp?.type === "ftyp" && moov?.type === "moov" ? readMp4(whole) : null;
}

/**
 * Length of the whole top-level boxes at the start of a file that may end in a torn one (a crash mid-write, a
 * write the disk refused), a moof counting as whole only with its mdat.
 */
export function wholeBoxesLength(bytes: Uint8Array): number {
  const sizeAt = (at: number) => {
    const size = at + 8 <= bytes.length ? view(bytes).getUint32(at) : 0;
    return size >= 8 && at + size <= bytes.length ? size : 0;
  };
  let at = 0;
  for (let size = sizeAt(at); size > 0; size = sizeAt(at)) {
    if (view(bytes).getUint32(at + 4) === MOOF) {
      const mdat = sizeAt(at + size);
      if (mdat === 0) break;
      size += mdat;
    }
    at += size;
  }
  return at;
}

/** "moof" as a big-endian 32-bit number. */
const MOOF = 0x6d6f6f66;

/** The top-level boxes FFmpeg reads when it opens the file (its -v trace lines), by type. */
export async function boxesFfmpegOpens(path: string): Promise<string[]> {
  const result = await run(["ffprobe", "-v", "trace", "-show_format", path]);
  return [...result.stderr.matchAll(/type:'(\w+)' parent:'root'/g)].map((m) => m[1]);
}

/**
 * mediabunny reading the file through a source that notes every byte range it asks for: the key packet at or
 * before `seconds` on the video track, and the ranges read to find it.
 */
export async function mediabunnyKeyPacket(path: string, seconds: number) {
  const bytes = new Uint8Array(readFileSync(path));
  const reads: Array<[number, number]> = [];
  const source = new CustomSource({
    getSize: () => bytes.length,
    read: (start, end) => {
      reads.push([start, end]);
      return bytes.subarray(start, end);
    },
  });
  const input = new Input({ source, formats: ALL_FORMATS });
  const track = await input.getPrimaryVideoTrack();
  if (track === null) throw new Error(`${path} has no video track`);
  const packet = await new EncodedPacketSink(track).getKeyPacket(seconds);
  return { timestamp: packet?.timestamp ?? null, reads };
}
