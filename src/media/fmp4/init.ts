/**
 * The initialization segment of a fragmented MP4 / CMAF stream: ftyp, then a moov that describes each track
 * (its sample entry in stsd, empty sample tables: the samples come in fragments) and, in mvex, the trex every
 * fragment's defaults come from. Only the tracks given are described: an audio-only stream has no video track.
 */
import { BoxWriter } from "./box-writer.ts";
import { writeSampleEntry } from "./sample-entry.ts";
import type { TrackConfig } from "./track.ts";

/** CMAF's brands: ISO BMFF 6th edition (tfdt v1, signed composition offsets) and the CMAF track format. */
const MAJOR_BRAND = "iso6";
const COMPATIBLE_BRANDS = ["iso6", "cmfc", "mp41"];
/** Movie time: milliseconds (nothing in the moov has a duration). */
const MOVIE_TIMESCALE = 1000;
const TRACK_ENABLED_IN_MOVIE = 0x000003;
/** "und" as ISO 639-2/T packed in 3 x 5 bits. */
const LANGUAGE_UNDETERMINED = 0x55c4;
const FIXED_ONE = 0x00010000;
/** The identity transformation matrix: a, b, u / c, d, v / x, y, w in 16.16 (2.30 for u, v, w). */
const UNITY_MATRIX = [FIXED_ONE, 0, 0, 0, FIXED_ONE, 0, 0, 0, 0x40000000];
const DATA_IN_THIS_FILE = 0x000001;

/** ftyp (iso6, cmfc, mp41) + moov (mvhd, one trak per track with its sample entry, mvex/trex). */
export function initSegment(tracks: readonly TrackConfig[]): Uint8Array {
  const w = new BoxWriter();
  const ftyp = w.open("ftyp");
  w.type(MAJOR_BRAND);
  w.u32(0); // minor_version
  for (const brand of COMPATIBLE_BRANDS) w.type(brand);
  w.close(ftyp);

  const moov = w.open("moov");
  writeMvhd(w, tracks.reduce((max, t) => Math.max(max, t.id), 0) + 1);
  for (const track of tracks) writeTrak(w, track);
  const mvex = w.open("mvex");
  for (const track of tracks) {
    const trex = w.openFull("trex", 0, 0);
    w.u32(track.id);
    w.u32(1); // default_sample_description_index
    w.u32(0); // default_sample_duration
    w.u32(0); // default_sample_size
    w.u32(0); // default_sample_flags: every trun says its own
    w.close(trex);
  }
  w.close(mvex);
  w.close(moov);
  return w.finish();
}

function writeMvhd(w: BoxWriter, nextTrackId: number): void {
  const mvhd = w.openFull("mvhd", 0, 0);
  w.u32(0); // creation_time
  w.u32(0); // modification_time
  w.u32(MOVIE_TIMESCALE);
  w.u32(0); // duration: unknown, the fragments hold it
  w.u32(FIXED_ONE); // rate 1.0
  w.u16(0x0100); // volume 1.0
  w.zeros(10); // reserved
  for (const value of UNITY_MATRIX) w.u32(value);
  w.zeros(24); // pre_defined
  w.u32(nextTrackId);
  w.close(mvhd);
}

function writeTrak(w: BoxWriter, track: TrackConfig): void {
  const video = track.kind === "video";
  const trak = w.open("trak");
  const tkhd = w.openFull("tkhd", 0, TRACK_ENABLED_IN_MOVIE);
  w.u32(0); // creation_time
  w.u32(0); // modification_time
  w.u32(track.id);
  w.u32(0); // reserved
  w.u32(0); // duration
  w.zeros(8); // reserved
  w.u16(0); // layer
  w.u16(0); // alternate_group
  w.u16(video ? 0 : 0x0100); // volume
  w.u16(0); // reserved
  for (const value of UNITY_MATRIX) w.u32(value);
  w.u32(track.width * FIXED_ONE);
  w.u32(track.height * FIXED_ONE);
  w.close(tkhd);

  const mdia = w.open("mdia");
  const mdhd = w.openFull("mdhd", 0, 0);
  w.u32(0); // creation_time
  w.u32(0); // modification_time
  w.u32(track.timescale);
  w.u32(0); // duration
  w.u16(LANGUAGE_UNDETERMINED);
  w.u16(0); // pre_defined
  w.close(mdhd);
  const hdlr = w.openFull("hdlr", 0, 0);
  w.u32(0); // pre_defined
  w.type(video ? "vide" : "soun");
  w.zeros(12); // reserved
  w.bytes(new TextEncoder().encode(video ? "VideoHandler\0" : "SoundHandler\0"));
  w.close(hdlr);
  writeMinf(w, track);
  w.close(mdia);
  w.close(trak);
}

function writeMinf(w: BoxWriter, track: TrackConfig): void {
  const minf = w.open("minf");
  if (track.kind === "video") {
    const vmhd = w.openFull("vmhd", 0, 1);
    w.zeros(8); // graphicsmode, opcolor
    w.close(vmhd);
  } else {
    const smhd = w.openFull("smhd", 0, 0);
    w.zeros(4); // balance, reserved
    w.close(smhd);
  }
  const dinf = w.open("dinf");
  const dref = w.openFull("dref", 0, 0);
  w.u32(1); // entry_count
  w.close(w.openFull("url ", 0, DATA_IN_THIS_FILE));
  w.close(dref);
  w.close(dinf);

  const stbl = w.open("stbl");
  const stsd = w.openFull("stsd", 0, 0);
  w.u32(1); // entry_count
  writeSampleEntry(w, track);
  w.close(stsd);
  writeEmptyTable(w, "stts");
  writeEmptyTable(w, "stsc");
  const stsz = w.openFull("stsz", 0, 0);
  w.u32(0); // sample_size
  w.u32(0); // sample_count
  w.close(stsz);
  writeEmptyTable(w, "stco");
  w.close(stbl);
  w.close(minf);
}

function writeEmptyTable(w: BoxWriter, type: string): void {
  const box = w.openFull(type, 0, 0);
  w.u32(0); // entry_count
  w.close(box);
}
