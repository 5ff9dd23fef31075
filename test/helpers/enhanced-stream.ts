/**
 * Enhanced RTMP test streams. The FFmpeg here is too old to publish Enhanced RTMP, so tests send these with a
 * raw RTMP client: real frames from this machine's encoders (libx265, libaom-av1, libvpx-vp9), cut into access
 * units / temporal units / frames at the encoder's own packet boundaries, with a configuration record built from
 * the bitstream, wrapped as Enhanced RTMP video messages. Generated once per process and options.
 * toElementaryStream() turns such messages back into a file FFmpeg reads, to prove they decode.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER, obus, parseAv1SequenceHeader } from "../../src/media/av1.ts";
import { PacketType, readExHeader } from "../../src/media/ex-header.ts";
import { HEVC_NAL_SPS, parseHevcSps } from "../../src/media/h265.ts";
import { vp9KeyframeHeader } from "../../src/media/vp9.ts";
import { concat } from "../../support/bytes.ts";
import { Child } from "../../support/children.ts";

export type EnhancedCodec = "hvc1" | "av01" | "vp09";

export interface EnhancedMessage {
  /** RTMP timestamp (ms): the decode time. */
  timestamp: number;
  payload: Uint8Array;
  /** Frame type 1 in the header: every coded keyframe, and the sequence start (the spec marks it so too). */
  keyframe: boolean;
}

export interface EnhancedStream {
  messages: EnhancedMessage[];
  width: number;
  height: number;
}

export interface EnhancedStreamOptions {
  /** Coded frames after the sequence start. Default 30. */
  frames?: number;
  /** Default 320x180: not a multiple of 16 high, so H.265 carries a conformance window. */
  width?: number;
  height?: number;
}

/** A keyframe every this many frames; H.265 uses 2 B-frames, so its frames carry composition times. */
export const KEYFRAME_INTERVAL = 10;
export const FRAME_MS = 40;

const ENCODERS: Record<EnhancedCodec, string[]> = {
  hvc1: [
    "-c:v", "libx265", "-preset", "ultrafast",
    "-x265-params",
    `log-level=error:info=0:keyint=${KEYFRAME_INTERVAL}:min-keyint=${KEYFRAME_INTERVAL}:scenecut=0:bframes=2:open-gop=0`,
  ],
  av01: ["-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-lag-in-frames", "0"],
  vp09: ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-auto-alt-ref", "0"],
};

const ENCODE_TIMEOUT_MS = 60_000;
const cache = new Map<string, Promise<EnhancedStream>>();

/** Real encoded frames as Enhanced RTMP video messages: a sequence start (config record) then coded frames. */
export function enhancedVideoStream(codec: EnhancedCodec, opts: EnhancedStreamOptions = {}): Promise<EnhancedStream> {
  const frames = opts.frames ?? 30;
  const width = opts.width ?? 320;
  const height = opts.height ?? 180;
  const key = `${codec}-${frames}-${width}x${height}`;
  let stream = cache.get(key);
  if (stream === undefined) {
    stream = generate(codec, frames, width, height);
    cache.set(key, stream);
    // A failed encode is not cached: the next test tries again and reports its own failure.
    stream.catch(() => cache.delete(key));
  }
  return stream;
}

/** One encoder packet, as FFmpeg's framecrc muxer lists it (times in frames). */
interface Packet {
  dts: number;
  pts: number;
  keyframe: boolean;
  data: Uint8Array;
}

async function generate(codec: EnhancedCodec, frames: number, width: number, height: number): Promise<EnhancedStream> {
  const packets = await encode(codec, frames, width, height);
  const build = { hvc1: hevcMessages, av01: av1Messages, vp09: vp9Messages }[codec];
  return { messages: build(packets), width, height };
}

/** Encodes testsrc; the raw packets and the framecrc list (sizes, times, key flags) come from one run (tee). */
async function encode(codec: EnhancedCodec, frames: number, width: number, height: number): Promise<Packet[]> {
  const dir = mkdtempSync(join(tmpdir(), "rtmp-enhanced-"));
  try {
    const raw = join(dir, "packets.raw");
    const crc = join(dir, "packets.crc");
    const cmd = [
      "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
      "-f", "lavfi", "-i", `testsrc=size=${width}x${height}:rate=${1000 / FRAME_MS}`,
      "-frames:v", String(frames), "-pix_fmt", "yuv420p", ...ENCODERS[codec],
      "-g", String(KEYFRAME_INTERVAL), "-keyint_min", String(KEYFRAME_INTERVAL),
      "-map", "0", "-f", "tee", `[f=rawvideo]${raw}|[f=framecrc]${crc}`,
    ];
    const child = new Child("ffmpeg", cmd);
    const code = await child.waitExit(ENCODE_TIMEOUT_MS).catch((error) => {
      child.kill();
      throw error;
    });
    if (code !== 0) throw new Error(`encoding the ${codec} test stream failed\n${child.describe()}`);
    return splitPackets(readFileSync(raw), readFileSync(crc, "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** framecrc lines: `stream, dts, pts, duration, size, crc[, F=flags][, S=...]`; no F= means a keyframe. */
function splitPackets(raw: Uint8Array, crc: string): Packet[] {
  const packets: Packet[] = [];
  let at = 0;
  for (const line of crc.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(",").map((f) => f.trim());
    const size = Number(fields[4]);
    const flags = fields.find((f) => f.startsWith("F="));
    const keyframe = flags === undefined || (Number(flags.slice(2)) & 1) === 1;
    packets.push({ dts: Number(fields[1]), pts: Number(fields[2]), keyframe, data: raw.subarray(at, at + size) });
    at += size;
  }
  if (at !== raw.length) throw new Error(`framecrc lists ${at} bytes of packets, the raw stream has ${raw.length}`);
  return packets;
}

// ---------------------------------------------------------------------------------------------------------
// Enhanced RTMP payloads

const IS_EX_HEADER = 0x80;
const FRAME_KEY = 1 << 4;
const FRAME_INTER = 2 << 4;

function exPayload(keyframe: boolean, packetType: number, fourCc: EnhancedCodec, ...body: Uint8Array[]): Uint8Array {
  const head = Uint8Array.of(IS_EX_HEADER | (keyframe ? FRAME_KEY : FRAME_INTER) | packetType, ...Buffer.from(fourCc));
  return concat(head, ...body);
}

function si24(value: number): Uint8Array {
  return Uint8Array.of((value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
}

/** The sequence start, then one message per packet, timestamps from 0 on the decode clock. */
function messages(
  fourCc: EnhancedCodec,
  record: Uint8Array,
  packets: Packet[],
  frame: (p: Packet) => { packetType: number; body: Uint8Array[] },
): EnhancedMessage[] {
  const start = packets[0].dts;
  const out: EnhancedMessage[] = [
    { timestamp: 0, payload: exPayload(true, PacketType.SequenceStart, fourCc, record), keyframe: true },
  ];
  for (const p of packets) {
    const { packetType, body } = frame(p);
    const payload = exPayload(p.keyframe, packetType, fourCc, ...body);
    out.push({ timestamp: (p.dts - start) * FRAME_MS, payload, keyframe: p.keyframe });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// H.265: Annex-B access units → hvcC (VPS/SPS/PPS) and length-prefixed NAL units

const HEVC_NAL_VPS = 32;
const HEVC_NAL_PPS = 34;
const HEVC_NAL_AUD = 35;
const PARAMETER_SETS = [HEVC_NAL_VPS, HEVC_NAL_SPS, HEVC_NAL_PPS];
/** Parameter sets travel in the hvcC ("hvc1" semantics); access unit delimiters carry nothing RTMP needs. */
const LEFT_OUT_OF_FRAMES = [...PARAMETER_SETS, HEVC_NAL_AUD];

function hevcType(nal: Uint8Array): number {
  return (nal[0] >> 1) & 0x3f;
}

/** The NAL units of an Annex-B byte stream, start codes removed. */
function annexBNals(bytes: Uint8Array): Uint8Array[] {
  const starts: { at: number; payload: number }[] = [];
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) {
      starts.push({ at: i > 0 && bytes[i - 1] === 0 ? i - 1 : i, payload: i + 3 });
      i += 2;
    }
  }
  return starts.map((s, k) => bytes.subarray(s.payload, k + 1 < starts.length ? starts[k + 1].at : bytes.length));
}

function hevcMessages(packets: Packet[]): EnhancedMessage[] {
  const first = annexBNals(packets[0].data);
  const sets = PARAMETER_SETS.map((type) => first.find((nal) => hevcType(nal) === type));
  if (sets.some((nal) => nal === undefined)) throw new Error("the first H.265 access unit has no VPS/SPS/PPS");
  const record = hvcc(sets as Uint8Array[]);
  return messages("hvc1", record, packets, (p) => {
    const nals = annexBNals(p.data).filter((nal) => !LEFT_OUT_OF_FRAMES.includes(hevcType(nal)));
    const data = nals.flatMap((nal) => [u32(nal.length), nal]);
    const cts = (p.pts - p.dts) * FRAME_MS;
    // As FFmpeg writes it: CodedFramesX when the composition time is 0, CodedFrames with it otherwise.
    if (cts === 0) return { packetType: PacketType.CodedFramesX, body: data };
    return { packetType: PacketType.CodedFrames, body: [si24(cts), ...data] };
  });
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
}

function u16(value: number): Uint8Array {
  return Uint8Array.of((value >> 8) & 0xff, value & 0xff);
}

/** HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) from VPS, SPS and PPS. */
function hvcc([vps, sps, pps]: Uint8Array[]): Uint8Array {
  const info = parseHevcSps(sps);
  if (info === null) throw new Error("cannot read the encoder's H.265 SPS");
  const LENGTH_SIZE_MINUS_ONE = 3;
  const header = Uint8Array.of(
    1, // configurationVersion
    ...info.generalProfile,
    0xf0, 0x00, // min_spatial_segmentation_idc 0
    0xfc, // parallelismType 0
    0xfc | info.chromaFormatIdc,
    0xf8 | (info.bitDepthLuma - 8),
    0xf8 | (info.bitDepthChroma - 8),
    0x00, 0x00, // avgFrameRate unknown
    (info.maxSubLayers << 3) | (info.temporalIdNesting << 2) | LENGTH_SIZE_MINUS_ONE,
    3, // numOfArrays
  );
  const array = (nal: Uint8Array) => concat(Uint8Array.of(0x80 | hevcType(nal)), u16(1), u16(nal.length), nal);
  return concat(header, array(vps), array(sps), array(pps));
}

// ---------------------------------------------------------------------------------------------------------
// AV1: temporal units → av1C (sequence header OBU) and the OBUs without temporal delimiters

function av1Messages(packets: Packet[]): EnhancedMessage[] {
  const sequenceHeader = [...obus(packets[0].data)].find((obu) => obu.type === OBU_SEQUENCE_HEADER);
  if (sequenceHeader === undefined) throw new Error("the first AV1 temporal unit has no sequence header");
  const record = av1c(sequenceHeader.bytes, sequenceHeader.payload);
  return messages("av01", record, packets, (p) => ({
    packetType: PacketType.CodedFrames,
    // The ISOBMFF binding, which Enhanced RTMP follows, leaves temporal delimiters out of samples.
    body: [...obus(p.data)].filter((obu) => obu.type !== OBU_TEMPORAL_DELIMITER).map((obu) => obu.bytes),
  }));
}

/** AV1CodecConfigurationRecord (AV1 ISOBMFF binding 2.3) with the sequence header as its configOBUs. */
function av1c(obu: Uint8Array, payload: Uint8Array): Uint8Array {
  const h = parseAv1SequenceHeader(payload);
  if (h === null) throw new Error("cannot read the encoder's AV1 sequence header");
  const colour =
    (h.tier << 7) |
    ((h.bitDepth > 8 ? 1 : 0) << 6) |
    ((h.bitDepth === 12 ? 1 : 0) << 5) |
    (h.monochrome << 4) |
    (h.subsamplingX << 3) |
    (h.subsamplingY << 2) |
    h.chromaSamplePosition;
  return concat(Uint8Array.of(0x81, (h.profile << 5) | h.levelIdx, colour, 0x00), obu);
}

// ---------------------------------------------------------------------------------------------------------
// VP9: frames → vpcC from the first keyframe's uncompressed header

function vp9Messages(packets: Packet[]): EnhancedMessage[] {
  const header = vp9KeyframeHeader(packets[0].data);
  if (header === null) throw new Error("the first VP9 frame is not a keyframe we can read");
  const level = vp9Level(header.width * header.height, 1000 / FRAME_MS);
  const record = Uint8Array.of(
    header.profile,
    level,
    (header.bitDepth << 4) | (1 << 1) | header.fullRange, // chroma 1: 4:2:0 co-sited with luma, as FFmpeg writes
    2, 2, 2, // colour primaries, transfer, matrix: unspecified
    0x00, 0x00, // codecInitializationDataSize
  );
  return messages("vp09", record, packets, (p) => ({ packetType: PacketType.CodedFrames, body: [p.data] }));
}

/** The lowest VP9 level (as 10 × level) whose picture size and luma sample rate allow this stream. */
function vp9Level(pictureSize: number, fps: number): number {
  const levels: [number, number, number][] = [
    [10, 36_864, 829_440],
    [11, 73_728, 2_764_800],
    [20, 122_880, 4_608_000],
    [21, 245_760, 9_216_000],
    [30, 552_960, 20_736_000],
    [31, 983_040, 36_864_000],
    [40, 2_228_224, 83_558_400],
    [41, 2_228_224, 160_432_128],
    [50, 8_912_896, 311_951_360],
    [51, 8_912_896, 588_251_136],
    [52, 8_912_896, 1_176_502_272],
    [60, 35_651_584, 1_176_502_272],
    [61, 35_651_584, 2_353_004_544],
    [62, 35_651_584, 4_706_009_088],
  ];
  return levels.find(([, size, rate]) => pictureSize <= size && pictureSize * fps <= rate)?.[0] ?? 0;
}

// ---------------------------------------------------------------------------------------------------------
// Back to files FFmpeg reads

/**
 * The coded frames of Enhanced RTMP video messages as an elementary stream FFmpeg decodes: Annex-B H.265 (the
 * hvcC parameter sets first), low-overhead AV1 (a temporal delimiter before each unit, the av1C sequence header
 * first) or IVF VP9. Messages of other packet types than sequence start and coded frames are left out.
 */
export function toElementaryStream(codec: EnhancedCodec, messages: EnhancedMessage[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let record: Uint8Array | null = null;
  const frames: { timestamp: number; data: Uint8Array }[] = [];
  for (const m of messages) {
    const h = readExHeader(m.payload, PacketType.VideoMultitrack);
    if (h === null || h.fourCc !== codec) continue;
    if (h.packetType === PacketType.SequenceStart) record = h.body;
    // H.265 CodedFrames carry a composition time before the NAL units.
    const cts = codec === "hvc1" && h.packetType === PacketType.CodedFrames ? 3 : 0;
    if (h.packetType === PacketType.CodedFrames || h.packetType === PacketType.CodedFramesX) {
      frames.push({ timestamp: m.timestamp, data: h.body.subarray(cts) });
    }
  }
  if (record === null) throw new Error(`no ${codec} sequence start among the messages`);
  if (codec === "hvc1") {
    parts.push(...hvccNals(record).map(annexB));
    for (const f of frames) parts.push(...lengthPrefixedNals(f.data).map(annexB));
  } else if (codec === "av01") {
    const TEMPORAL_DELIMITER = Uint8Array.of(0x12, 0x00);
    parts.push(TEMPORAL_DELIMITER, record.subarray(4));
    frames.forEach((f, i) => parts.push(...(i === 0 ? [] : [TEMPORAL_DELIMITER]), f.data));
  } else {
    const size = frames.length > 0 ? vp9KeyframeHeader(frames[0].data) : null;
    parts.push(ivfHeader(frames.length, size?.width ?? 0, size?.height ?? 0));
    for (const f of frames) parts.push(ivfFrameHeader(f.data.length, f.timestamp), f.data);
  }
  return concat(...parts);
}

function annexB(nal: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(0, 0, 0, 1), nal);
}

function lengthPrefixedNals(data: Uint8Array): Uint8Array[] {
  const nals: Uint8Array[] = [];
  for (let at = 0; at + 4 <= data.length; ) {
    const length = ((data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]) >>> 0;
    nals.push(data.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return nals;
}

function hvccNals(record: Uint8Array): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let at = 23;
  for (let i = 0; i < record[22]; i++) {
    const count = (record[at + 1] << 8) | record[at + 2];
    at += 3;
    for (let j = 0; j < count; j++) {
      const length = (record[at] << 8) | record[at + 1];
      nals.push(record.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
  }
  return nals;
}

/** IVF file header: signature, version 0, header size, FourCC, size, time base 1/1000 (RTMP ms), frame count. */
function ivfHeader(frameCount: number, width: number, height: number): Uint8Array {
  const h = new Uint8Array(32);
  const v = new DataView(h.buffer);
  h.set(Buffer.from("DKIF"), 0);
  v.setUint16(6, 32, true);
  h.set(Buffer.from("VP90"), 8);
  v.setUint16(12, width, true);
  v.setUint16(14, height, true);
  v.setUint32(16, 1000, true);
  v.setUint32(20, 1, true);
  v.setUint32(24, frameCount, true);
  return h;
}

function ivfFrameHeader(size: number, timestamp: number): Uint8Array {
  const h = new Uint8Array(12);
  const v = new DataView(h.buffer);
  v.setUint32(0, size, true);
  v.setUint32(4, timestamp, true);
  return h;
}
