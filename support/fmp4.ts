/**
 * fMP4 for tests: a tiny ISO BMFF box reader (written from ISO/IEC 14496-12, not from our writer) that reads
 * init segments and fragments back into plain values, and a small muxer that feeds FLV/RTMP messages through
 * trackConfig/sampleOf/fragment the way a segmenter does, keeping what it fed for the checks.
 */
import { fragment, type Sample, type TrackRun } from "../src/media/fmp4/fragment.ts";
import { initSegment } from "../src/media/fmp4/init.ts";
import { type TrackConfig, sampleOf, ticks, trackConfig } from "../src/media/fmp4/track.ts";
import { concat } from "./bytes.ts";

export interface Box {
  type: string;
  /** The whole box, header included. */
  bytes: Uint8Array;
  /** After the header (and after version/flags for the full boxes read with `full`). */
  body: Uint8Array;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const text = (b: Uint8Array) => String.fromCharCode(...b);

/** The boxes laid one after another in `bytes`; throws when one runs past the end. */
export function boxes(bytes: Uint8Array): Box[] {
  const out: Box[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = view(bytes).getUint32(at);
    if (size < 8 || at + size > bytes.length) throw new Error(`box at ${at} has size ${size} of ${bytes.length - at}`);
    const box = bytes.subarray(at, at + size);
    out.push({ type: text(box.subarray(4, 8)), bytes: box, body: box.subarray(8) });
    at += size;
  }
  return out;
}

/** The one child of `type` (throws if there is not exactly one). */
export function child(parent: Uint8Array, type: string): Box {
  const found = boxes(parent).filter((b) => b.type === type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

/** Follows a path of single children: path(init, "moov/trak/mdia"). */
export function path(bytes: Uint8Array, names: string): Box {
  let box: Box | null = null;
  for (const name of names.split("/")) box = child(box === null ? bytes : box.body, name);
  return box!;
}

export interface ReadTrack {
  id: number;
  kind: "video" | "audio";
  codec: string;
  timescale: number;
  width: number;
  height: number;
  sampleRate: number;
  channels: number;
  config: Uint8Array;
}

/** An init segment's ftyp brands and tracks, as a demuxer reads them. */
export function readInit(init: Uint8Array): { brands: string[]; tracks: ReadTrack[]; trex: number[] } {
  const [ftyp, moov, ...rest] = boxes(init);
  if (ftyp.type !== "ftyp" || moov.type !== "moov" || rest.length > 0) throw new Error("not ftyp + moov");
  const brands = [0, 8, 12, 16, 20].filter((at) => at < ftyp.body.length).map((at) => text(ftyp.body.subarray(at, at + 4)));
  const tracks = boxes(moov.body)
    .filter((b) => b.type === "trak")
    .map((trak) => readTrak(trak.body));
  const trex = boxes(child(moov.body, "mvex").body).map((b) => view(b.body).getUint32(4));
  return { brands, tracks, trex };
}

function readTrak(trak: Uint8Array): ReadTrack {
  const tkhd = child(trak, "tkhd").body;
  const id = view(tkhd).getUint32(12);
  const mdia = child(trak, "mdia").body;
  const timescale = view(child(mdia, "mdhd").body).getUint32(12);
  const handler = text(child(mdia, "hdlr").body.subarray(8, 12));
  const stsd = path(mdia, "minf/stbl/stsd").body;
  if (view(stsd).getUint32(4) !== 1) throw new Error("stsd must hold one entry");
  const [entry] = boxes(stsd.subarray(8));
  const e = view(entry.body);
  if (handler === "vide") {
    // VisualSampleEntry: 78 bytes of fields, then the configuration box.
    const [config] = boxes(entry.body.subarray(78));
    const fullBox = config.type === "vpcC" ? 4 : 0;
    return {
      id, kind: "video", codec: entry.type, timescale,
      width: e.getUint16(24), height: e.getUint16(26), sampleRate: 0, channels: 0,
      config: config.body.subarray(fullBox),
    };
  }
  // AudioSampleEntry: 28 bytes of fields, then esds or dOps.
  const [config] = boxes(entry.body.subarray(28));
  return {
    id, kind: "audio", codec: entry.type, timescale,
    width: 0, height: 0, sampleRate: e.getUint32(24) / 0x10000, channels: e.getUint16(16),
    config: config.type === "esds" ? decoderSpecificInfo(config.body.subarray(4)) : config.body,
  };
}

/** The DecoderSpecificInfo (tag 5) inside an esds's descriptors. */
function decoderSpecificInfo(descriptors: Uint8Array): Uint8Array {
  for (let at = 0; at < descriptors.length; ) {
    const tag = descriptors[at++];
    let size = 0;
    for (;;) {
      const byte = descriptors[at++];
      size = size * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) break;
    }
    if (tag === 5) return descriptors.subarray(at, at + size);
    // ES_Descriptor: ES_ID and flags, then its sub-descriptors; DecoderConfig: 13 bytes, then sub-descriptors.
    if (tag === 3) at += 3;
    else if (tag === 4) at += 13;
    else at += size;
  }
  throw new Error("no DecoderSpecificInfo in esds");
}

/** sample_depends_on 2; sample_depends_on 1 with sample_is_non_sync_sample (ISO/IEC 14496-12 8.8.3.1). */
const SYNC_FLAGS = 0x02000000;
const NON_SYNC_FLAGS = 0x01010000;

/** A fragment read back: mfhd's sequence number and, per traf, the run with its samples' bytes from the mdat. */
export function readFragment(bytes: Uint8Array): { sequenceNumber: number; runs: TrackRun[] } {
  const [moof, mdat, ...rest] = boxes(bytes);
  if (moof.type !== "moof" || mdat.type !== "mdat" || rest.length > 0) throw new Error("not moof + mdat");
  const sequenceNumber = view(child(moof.body, "mfhd").body).getUint32(4);
  const runs = boxes(moof.body)
    .filter((b) => b.type === "traf")
    .map((traf): TrackRun => {
      const tfhd = view(child(traf.body, "tfhd").body);
      if ((tfhd.getUint32(0) & 0xffffff) !== 0x020000) throw new Error("tfhd must be default-base-is-moof only");
      const tfdt = view(child(traf.body, "tfdt").body);
      if (tfdt.getUint8(0) !== 1) throw new Error("tfdt must be version 1");
      const trun = view(child(traf.body, "trun").body);
      if (trun.getUint32(0) !== 0x01000f01) throw new Error("trun must be version 1 with flags 0xf01");
      const count = trun.getUint32(4);
      let offset = trun.getUint32(8); // from the start of the moof
      const samples: Sample[] = [];
      for (let i = 0; i < count; i++) {
        const at = 12 + 16 * i;
        const size = trun.getUint32(at + 4);
        const flags = trun.getUint32(at + 8);
        if (flags !== SYNC_FLAGS && flags !== NON_SYNC_FLAGS) throw new Error(`sample ${i} has flags ${flags.toString(16)}`);
        samples.push({
          data: bytes.slice(offset, offset + size),
          duration: trun.getUint32(at),
          compositionOffset: trun.getInt32(at + 12),
          sync: flags === SYNC_FLAGS,
        });
        offset += size;
      }
      return { trackId: tfhd.getUint32(4), baseDecodeTime: Number(tfdt.getBigUint64(4)), samples };
    });
  return { sequenceNumber, runs };
}

// ---------------------------------------------------------------------------------------------------------
// A muxer for tests: messages in, init + fragments out

export interface Message {
  /** 8 audio, 9 video. */
  type: number;
  /** Milliseconds (decode time). */
  timestamp: number;
  payload: Uint8Array;
}

export interface Muxed {
  init: Uint8Array;
  fragments: Uint8Array[];
  tracks: TrackConfig[];
  /** Per track id, every sample fed, in decode order, with its decode time. */
  samples: Map<number, (Sample & { decodeTime: number })[]>;
  /** The whole file: init then fragments. */
  file: Uint8Array;
}

/**
 * What a segmenter does with a stream: a track per sequence header we carry (video id 1, then audio), each
 * sample held until the next one of its track gives its duration (the last gets the one before), and a
 * fragment cut at each video keyframe at least `fragmentMs` after the last cut (every `fragmentMs` of audio
 * for an audio-only stream).
 */
export function mux(messages: Message[], fragmentMs = 1000): Muxed {
  const firstKeyframe = messages.find((m) => m.type === 9 && sampleOf(9, m.payload)?.keyframe === true);
  const tracks: TrackConfig[] = [];
  const trackOf = new Map<number, TrackConfig>();
  for (const type of [9, 8]) {
    for (const m of messages.filter((m) => m.type === type)) {
      const kind = type === 9 ? "video" : "audio";
      const config = trackConfig(kind, m.payload, tracks.length + 1, firstKeyframe?.payload);
      if (config === null) continue;
      tracks.push(config);
      trackOf.set(type, config);
      break;
    }
  }
  const samples = new Map(tracks.map((t) => [t.id, [] as (Sample & { decodeTime: number })[]]));
  const pending = new Map<number, { decodeTime: number; data: Uint8Array; compositionOffset: number; sync: boolean }>();
  const ready = new Map<number, (Sample & { decodeTime: number })[]>(tracks.map((t) => [t.id, []]));
  const fragments: Uint8Array[] = [];
  const flush = () => {
    const runs = tracks.map((t) => {
      const list = ready.get(t.id)!.splice(0);
      return { trackId: t.id, baseDecodeTime: list[0]?.decodeTime ?? 0, samples: list };
    });
    if (runs.some((r) => r.samples.length > 0)) fragments.push(fragment(fragments.length + 1, runs));
  };
  const complete = (track: TrackConfig, duration: number) => {
    const held = pending.get(track.id);
    if (held === undefined) return;
    const sample = { ...held, duration };
    ready.get(track.id)!.push(sample);
    samples.get(track.id)!.push(sample);
  };
  const cutEvery = ticks(fragmentMs, 1000);
  let lastCut = 0;
  for (const m of messages) {
    const track = trackOf.get(m.type);
    const view = track === undefined ? null : sampleOf(m.type, m.payload);
    if (track === undefined || view === null) continue;
    const decodeTime = ticks(m.timestamp, track.timescale);
    const held = pending.get(track.id);
    if (held !== undefined) complete(track, decodeTime - held.decodeTime);
    const cuts = trackOf.has(9) ? m.type === 9 && view.keyframe : true;
    if (cuts && m.timestamp - lastCut >= cutEvery) {
      flush();
      lastCut = m.timestamp;
    }
    pending.set(track.id, {
      decodeTime,
      data: view.data.slice(),
      compositionOffset: ticks(view.compositionOffsetMs, track.timescale),
      sync: view.keyframe,
    });
  }
  for (const track of tracks) {
    const list = samples.get(track.id)!;
    complete(track, list.length > 0 ? list[list.length - 1].duration : 0);
  }
  flush();
  const init = initSegment(tracks);
  return { init, fragments, tracks, samples, file: concat(init, ...fragments) };
}
