/**
 * One fragment of a fragmented MP4 / CMAF stream: a moof (mfhd; per track run a traf with tfhd, tfdt and trun)
 * followed by one mdat holding every run's sample data in order. Sizes are known before writing, so the whole
 * fragment is one exact allocation and the sample data is copied once, into it.
 */
import { BOX_HEADER, BoxWriter, FULL_BOX_HEADER } from "./box-writer.ts";

/** A sample, all in its track's timescale. */
export interface Sample {
  readonly data: Uint8Array;
  readonly duration: number;
  /** Signed (trun version 1): presentation time minus decode time. */
  readonly compositionOffset: number;
  readonly sync: boolean;
}

export interface TrackRun {
  readonly trackId: number;
  /** Decode time of the first sample. */
  readonly baseDecodeTime: number;
  readonly samples: readonly Sample[];
}

/** tfhd: the data offsets of this traf count from the start of the moof (CMAF requires it; no base_data_offset). */
const DEFAULT_BASE_IS_MOOF = 0x020000;
/** trun: data-offset, sample-duration, sample-size, sample-flags, sample-composition-time-offsets present. */
const TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;
/** sample_flags: sample_depends_on 2 (depends on no other: a sync sample). */
const SYNC_SAMPLE = 0x02000000;
/** sample_flags: sample_depends_on 1 and sample_is_non_sync_sample. */
const NON_SYNC_SAMPLE = 0x01010000;

const MFHD_SIZE = FULL_BOX_HEADER + 4;
const TFHD_SIZE = FULL_BOX_HEADER + 4;
/** Version 1: a 64-bit baseMediaDecodeTime. */
const TFDT_SIZE = FULL_BOX_HEADER + 8;
/** sample_count and data_offset, then 16 bytes a sample. */
const TRUN_HEADER_SIZE = FULL_BOX_HEADER + 8;
const TRUN_SAMPLE_SIZE = 16;

/**
 * One moof (mfhd; per run a traf: tfhd default-base-is-moof, tfdt version 1, trun with data offset and per-sample
 * size, duration, flags, composition offset) followed by one mdat holding every run's data in order. Sample data
 * is copied once, into the returned buffer. Runs with no samples are left out.
 */
export function fragment(sequenceNumber: number, runs: readonly TrackRun[]): Uint8Array {
  const filled = runs.filter((run) => run.samples.length > 0);
  let moofSize = BOX_HEADER + MFHD_SIZE;
  let dataSize = 0;
  for (const run of filled) {
    moofSize += BOX_HEADER + TFHD_SIZE + TFDT_SIZE + TRUN_HEADER_SIZE + TRUN_SAMPLE_SIZE * run.samples.length;
    for (const sample of run.samples) dataSize += sample.data.length;
  }
  // Every byte of the exact size is written below, so it need not be zeroed first.
  const w = new BoxWriter(moofSize + BOX_HEADER + dataSize, true);

  const moof = w.open("moof");
  const mfhd = w.openFull("mfhd", 0, 0);
  w.u32(sequenceNumber);
  w.close(mfhd);
  // Where the next run's data starts, counted from the start of the moof.
  let dataOffset = moofSize + BOX_HEADER;
  for (const run of filled) {
    const traf = w.open("traf");
    const tfhd = w.openFull("tfhd", 0, DEFAULT_BASE_IS_MOOF);
    w.u32(run.trackId);
    w.close(tfhd);
    const tfdt = w.openFull("tfdt", 1, 0);
    w.u64(run.baseDecodeTime);
    w.close(tfdt);
    const trun = w.openFull("trun", 1, TRUN_FLAGS);
    w.u32(run.samples.length);
    w.u32(dataOffset);
    for (const sample of run.samples) {
      w.u32(sample.duration);
      w.u32(sample.data.length);
      w.u32(sample.sync ? SYNC_SAMPLE : NON_SYNC_SAMPLE);
      w.u32(sample.compositionOffset); // signed (trun version 1)
      dataOffset += sample.data.length;
    }
    w.close(trun);
    w.close(traf);
  }
  w.close(moof);

  const mdat = w.open("mdat");
  for (const run of filled) for (const sample of run.samples) w.bytes(sample.data);
  w.close(mdat);
  return w.finish();
}
