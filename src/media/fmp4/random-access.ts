/**
 * The boxes that let a reader of a finished fragmented MP4 find a fragment by time without reading every moof:
 * a sidx (ISO/IEC 14496-12 8.16.3) ahead of the fragments, which FFmpeg's mov demuxer uses, and an mfra
 * (8.8.9-8.8.11: a tfra per track, then mfro) at the end, which other readers look for; and the free box that
 * holds the sidx's room until it is known.
 */
import { BOX_HEADER, BoxWriter, FULL_BOX_HEADER } from "./box-writer.ts";

/** One subsegment: a run of whole fragments. */
export interface SegmentReference {
  /** Bytes, from its first moof to the next reference's. */
  readonly size: number;
  /** In the index's timescale. */
  readonly duration: number;
  /** It starts with a sync sample of the reference track (SAP type 1). */
  readonly startsWithSap: boolean;
}

export interface SegmentIndex {
  /** The track whose times the index gives. */
  readonly referenceId: number;
  readonly timescale: number;
  /** Presentation time of the first reference. */
  readonly earliestPresentationTime: number;
  /** Bytes between the end of the sidx and the first reference (a free box, say). */
  readonly firstOffset: number;
  readonly references: readonly SegmentReference[];
}

/** version 1: reference_ID, timescale, 64-bit earliest_presentation_time and first_offset, reserved, count. */
const SIDX_FIXED = FULL_BOX_HEADER + 4 + 4 + 8 + 8 + 2 + 2;
const SIDX_REFERENCE = 12;
/** reference_type 0 (media) is the top bit of the size word; starts_with_SAP and SAP_type 1 open the SAP word. */
const STARTS_WITH_SAP_TYPE_1 = 0x90000000;
/** sidx's reference_count is 16 bits. */
const MAX_SEGMENT_REFERENCES = 0xffff;

/** Bytes of a sidx with `references` references. */
export function segmentIndexSize(references: number): number {
  return SIDX_FIXED + SIDX_REFERENCE * references;
}

export function segmentIndex(index: SegmentIndex): Uint8Array {
  const { references } = index;
  if (references.length > MAX_SEGMENT_REFERENCES) throw new Error(`a sidx holds at most ${MAX_SEGMENT_REFERENCES} references`);
  const w = new BoxWriter(segmentIndexSize(references.length));
  const sidx = w.openFull("sidx", 1, 0);
  w.u32(index.referenceId);
  w.u32(index.timescale);
  w.u64(index.earliestPresentationTime);
  w.u64(index.firstOffset);
  w.u16(0); // reserved
  w.u16(references.length);
  for (const reference of references) {
    w.u32(reference.size);
    w.u32(reference.duration);
    w.u32(reference.startsWithSap ? STARTS_WITH_SAP_TYPE_1 : 0);
  }
  w.close(sidx);
  return w.finish();
}

/** A free box of exactly `size` bytes (at least its header), zero-filled. */
export function freeBox(size: number): Uint8Array {
  if (size < BOX_HEADER) throw new Error(`a free box takes at least ${BOX_HEADER} bytes, not ${size}`);
  const w = new BoxWriter(size);
  const free = w.open("free");
  w.zeros(size - BOX_HEADER);
  w.close(free);
  return w.finish();
}

/** A sync sample of a track: the first sample of its run in a fragment. */
export interface RandomAccessPoint {
  /** Presentation time, in the track's timescale. */
  readonly time: number;
  /** File offset of the fragment's moof. */
  readonly moofOffset: number;
  /** Which traf of that moof holds the track, from 1. */
  readonly trafNumber: number;
}

export interface TrackRandomAccess {
  readonly trackId: number;
  readonly points: readonly RandomAccessPoint[];
}

/** tfra version 1: track_ID, the field-size word, entry count; then 64-bit time and moof_offset, three 1-byte numbers. */
const TFRA_FIXED = FULL_BOX_HEADER + 4 + 4 + 4;
const TFRA_ENTRY = 8 + 8 + 1 + 1 + 1;
const MFRO_SIZE = FULL_BOX_HEADER + 4;
/** traf_number, trun_number and sample_number are each one byte (length_size_of_* = 0). */
const ONE_BYTE_NUMBERS = 0;
const MAX_ONE_BYTE = 0xff;

/** An mfra: a tfra per track given (each point is the first sample of the track's one trun), then mfro. */
export function fragmentRandomAccess(tracks: readonly TrackRandomAccess[]): Uint8Array {
  let size = BOX_HEADER + MFRO_SIZE;
  for (const track of tracks) size += TFRA_FIXED + TFRA_ENTRY * track.points.length;
  const w = new BoxWriter(size);
  const mfra = w.open("mfra");
  for (const track of tracks) {
    const tfra = w.openFull("tfra", 1, 0);
    w.u32(track.trackId);
    w.u32(ONE_BYTE_NUMBERS);
    w.u32(track.points.length);
    for (const point of track.points) {
      if (point.trafNumber < 1 || point.trafNumber > MAX_ONE_BYTE) throw new Error(`traf number ${point.trafNumber} out of range`);
      w.u64(point.time);
      w.u64(point.moofOffset);
      w.u8(point.trafNumber);
      w.u8(1); // trun_number: each traf has one trun
      w.u8(1); // sample_number: the trun's first sample
    }
    w.close(tfra);
  }
  const mfro = w.openFull("mfro", 0, 0);
  w.u32(size); // the size of the whole mfra, so a reader finds it from the file's last four bytes
  w.close(mfro);
  w.close(mfra);
  return w.finish();
}
