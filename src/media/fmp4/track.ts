/**
 * What an fMP4 track is and what its samples are, read from FLV/RTMP audio and video bodies, legacy and
 * Enhanced RTMP: trackConfig() from a sequence header, sampleOf() from each coded frame (a view, no copy),
 * ticks() for times in a track's timescale.
 *
 * Carried: H.264 (legacy codec 7, Enhanced avc1), H.265 (legacy 12, Enhanced hvc1), AV1, VP9; AAC (legacy and
 * Enhanced mp4a), Opus. The codecs we pass through but do not carry here (VP8, H.266, FLAC, AC-3, E-AC-3, MP3,
 * Speex, Nellymoser, G.711, PCM, and an AV1 configuration sent as an MPEG-2 TS descriptor) give null from both
 * functions: their streams are not offered as fMP4 (or only with their other track). So do multitrack messages:
 * a track is a stream's single audio or video track, never one of several.
 */
import { OBU_TEMPORAL_DELIMITER, av1ConfigDetails, firstSequenceHeader, obus } from "../av1.ts";
import { readU24 } from "../../protocol/bytes.ts";
import { aacConfigDetails } from "../aac.ts";
import type { VideoDetails } from "../codec-details.ts";
import { LEGACY_AAC_HEADER, LEGACY_VIDEO_HEADER, LegacyPacketType, SOUND_FORMAT_AAC, VIDEO_CODEC_AVC, VIDEO_CODEC_HEVC } from "../codec-info.ts";
import {
  PacketType,
  VideoFrameType,
  isExAudio,
  isExVideo,
  readExHeader,
  videoFrameType,
  type ExHeader,
} from "../ex-header.ts";
import { avcConfigDetails } from "../h264.ts";
import { hevcConfigDetails } from "../h265.ts";
import { DOPS_SIZE, OPUS_HEAD_SIZE, OPUS_RATE, isOpusHead } from "../opus.ts";
import { vp9KeyframeHeader } from "../vp9.ts";
import { fullBoxPrefixLength } from "../vpcc.ts";
import { MessageType } from "../../protocol/message.ts";
import { codecString } from "./codec-string.ts";

export type VideoCodec = "avc1" | "hvc1" | "av01" | "vp09";
export type AudioCodec = "mp4a" | "Opus";

export interface TrackConfig {
  /** track_ID, from 1. */
  readonly id: number;
  readonly kind: "video" | "audio";
  /** The sample entry type. */
  readonly codec: VideoCodec | AudioCodec;
  /** Video 90000; audio its sample rate (Opus 48000). */
  readonly timescale: number;
  /** Video; 0 for audio (and for video whose size is unknown). */
  readonly width: number;
  readonly height: number;
  /** Audio; 0 for video. */
  readonly sampleRate: number;
  readonly channels: number;
  /** avcC/hvcC/av1C/vpcC record body (vpcC without its version and flags); AudioSpecificConfig; dOps body. */
  readonly config: Uint8Array;
  /** RFC 6381, for HLS CODECS=: "avc1.64001f", "hvc1.1.6.L93.B0", "av01.0.04M.08", "vp09.00.10.08", "mp4a.40.2", "opus". */
  readonly codecString: string;
}

/** The coded sample in an audio/video body. compositionOffsetMs is the FLV composition time (CTS). */
export interface SampleView {
  readonly data: Uint8Array;
  readonly compositionOffsetMs: number;
  readonly keyframe: boolean;
}

const VIDEO_TIMESCALE = 90_000;

const VIDEO_FOURCC = new Set<string>(["avc1", "hvc1", "av01", "vp09"]);
const AUDIO_FOURCC = new Set<string>(["mp4a", "Opus"]);

/** Smallest records we accept: avcC up to numOfSequenceParameterSets, hvcC up to numOfArrays, av1C, vpcC. */
const MIN_AVCC = 6;
const MIN_HVCC = 23;
const MIN_AV1C = 4;
const MIN_VPCC = 8;
const AV1C_MARKER = 0x81;

/**
 * From a sequence header frame's payload (legacy FLV or Enhanced RTMP). null: not a sequence header, a codec
 * fMP4 here does not carry, or a record too broken to describe a track. `keyframe`: the payload of the first
 * keyframe after it, which gives the picture size the record may lack (VP9 always, AV1 when its av1C holds no
 * sequence header); without it that size is 0x0 (decoders take it from the bitstream).
 */
export function trackConfig(
  kind: "video" | "audio",
  headerPayload: Uint8Array,
  id: number,
  keyframe?: Uint8Array,
): TrackConfig | null {
  return kind === "video" ? videoTrack(headerPayload, id, keyframe) : audioTrack(headerPayload, id);
}

function videoTrack(payload: Uint8Array, id: number, keyframe: Uint8Array | undefined): TrackConfig | null {
  const header = videoHeader(payload);
  if (header === null) return null;
  const { codec } = header;
  let record = header.record;
  let details: VideoDetails;
  switch (codec) {
    case "avc1":
      if (record.length < MIN_AVCC || record[0] !== 1) return null;
      details = avcConfigDetails(record);
      break;
    case "hvc1":
      if (record.length < MIN_HVCC || record[0] !== 1) return null;
      details = hevcConfigDetails(record);
      break;
    case "av01":
      if (record.length < MIN_AV1C || record[0] !== AV1C_MARKER) return null;
      details = av1ConfigDetails(record);
      if (details.width === undefined && keyframe !== undefined) details = av1FrameSize(keyframe) ?? details;
      break;
    case "vp09":
      // Without the FullBox version and flags some muxers send with the record.
      record = record.subarray(fullBoxPrefixLength(record));
      if (record.length < MIN_VPCC) return null;
      details = (keyframe === undefined ? null : vp9FrameSize(keyframe)) ?? { codec };
      break;
  }
  const config = record.slice(); // the payload's slab is reused once the frame is released
  return {
    id,
    kind: "video",
    codec,
    timescale: VIDEO_TIMESCALE,
    width: details.width ?? 0,
    height: details.height ?? 0,
    sampleRate: 0,
    channels: 0,
    config,
    codecString: codecString(codec, config),
  };
}

/** The codec and configuration record of a video sequence header, or null. */
function videoHeader(payload: Uint8Array): { codec: VideoCodec; record: Uint8Array } | null {
  if (payload.length < 2 || videoFrameType(payload) === VideoFrameType.Command) return null;
  if (isExVideo(payload)) {
    const h = singleTrack(readExHeader(payload, PacketType.VideoMultitrack));
    if (h === null || h.packetType !== PacketType.SequenceStart || !VIDEO_FOURCC.has(h.fourCc)) return null;
    return { codec: h.fourCc as VideoCodec, record: h.body };
  }
  const codec = legacyVideoCodec(payload);
  if (codec === null || payload[1] !== LegacyPacketType.SequenceHeader) return null;
  return { codec, record: payload.subarray(LEGACY_VIDEO_HEADER) };
}

function legacyVideoCodec(payload: Uint8Array): VideoCodec | null {
  const codecId = payload[0] & 0x0f;
  return codecId === VIDEO_CODEC_AVC ? "avc1" : codecId === VIDEO_CODEC_HEVC ? "hvc1" : null;
}

/** Multitrack messages are not carried. */
function singleTrack(header: ExHeader | null): ExHeader | null {
  return header === null || header.multitrack ? null : header;
}

function vp9FrameSize(keyframe: Uint8Array): VideoDetails | null {
  const sample = sampleOf(MessageType.Video, keyframe);
  const header = sample === null ? null : vp9KeyframeHeader(sample.data);
  return header === null ? null : { codec: "VP9", width: header.width, height: header.height };
}

/** The maximum frame size of the sequence header OBU a keyframe's temporal unit starts with. */
function av1FrameSize(keyframe: Uint8Array): VideoDetails | null {
  const sample = sampleOf(MessageType.Video, keyframe);
  const header = sample === null ? null : firstSequenceHeader(sample.data);
  return header === null ? null : { codec: "AV1", width: header.maxWidth, height: header.maxHeight };
}

function audioTrack(payload: Uint8Array, id: number): TrackConfig | null {
  const header = audioHeader(payload);
  if (header === null) return null;
  if (header.codec === "Opus") {
    const dops = opusDops(header.record);
    if (dops === null) return null;
    return audioConfig(id, "Opus", OPUS_RATE, dops[1], dops);
  }
  if (header.record.length < 2) return null;
  const details = aacConfigDetails(header.record);
  if (details.sampleRate === undefined) return null;
  // A channel configuration of 0 with no program config element: the frames say; stereo is the usual answer.
  return audioConfig(id, "mp4a", details.sampleRate, details.channels ?? 2, header.record.slice());
}

function audioConfig(id: number, codec: AudioCodec, rate: number, channels: number, config: Uint8Array): TrackConfig {
  return {
    id,
    kind: "audio",
    codec,
    timescale: rate,
    width: 0,
    height: 0,
    sampleRate: rate,
    channels,
    config,
    codecString: codecString(codec, config),
  };
}

/** The codec and configuration of an audio sequence header, or null. */
function audioHeader(payload: Uint8Array): { codec: AudioCodec; record: Uint8Array } | null {
  if (payload.length < 2) return null;
  if (isExAudio(payload)) {
    const h = singleTrack(readExHeader(payload, PacketType.AudioMultitrack));
    if (h === null || h.packetType !== PacketType.SequenceStart || !AUDIO_FOURCC.has(h.fourCc)) return null;
    return { codec: h.fourCc as AudioCodec, record: h.body };
  }
  if (payload[0] >> 4 !== SOUND_FORMAT_AAC || payload[1] !== LegacyPacketType.SequenceHeader) return null;
  return { codec: "mp4a", record: payload.subarray(LEGACY_AAC_HEADER) };
}

/** A mapping family other than 0 adds stream count, coupled count and one mapping byte per channel. */
const MAPPING_TABLE = 2;

/**
 * The dOps body (Encapsulation of Opus in ISO BMFF 4.3.2: big-endian, no magic) from an Enhanced RTMP Opus
 * sequence start: the ID header as RFC 7845 5.1 writes it (little-endian, "OpusHead"; what FFmpeg sends), a
 * dOps body already, or nothing, which the Enhanced RTMP spec says means plain stereo.
 */
function opusDops(header: Uint8Array): Uint8Array | null {
  if (header.length === 0) return Uint8Array.of(0, 2, 0, 0, 0, 0, 0xbb, 0x80, 0, 0, 0);
  const magic = isOpusHead(header);
  const fixed = magic ? OPUS_HEAD_SIZE : DOPS_SIZE;
  const body = magic ? header.subarray(8) : header;
  if (header.length < fixed || body[1] === 0) return null;
  const channels = body[1];
  const size = DOPS_SIZE + (body[10] === 0 ? 0 : MAPPING_TABLE + channels);
  if (body.length < size) return null;
  const dops = body.slice(0, size);
  dops[0] = 0; // Version: dOps has only 0, the OpusHead version is 1
  if (magic) {
    // pre-skip (16), input sample rate (32), output gain (16): little-endian to big-endian
    dops.subarray(2, 4).reverse();
    dops.subarray(4, 8).reverse();
    dops.subarray(8, 10).reverse();
  }
  return dops;
}

/**
 * The coded sample inside an audio/video body: a VIEW of the payload (no copy). null for sequence headers,
 * sequence end, metadata, commands, a codec we do not carry, a multitrack message, or a body too short.
 */
export function sampleOf(type: number, payload: Uint8Array): SampleView | null {
  if (payload.length < 2) return null;
  if (type === MessageType.Video) return videoSample(payload);
  if (type === MessageType.Audio) return audioSample(payload);
  return null;
}

function videoSample(payload: Uint8Array): SampleView | null {
  const frameType = videoFrameType(payload);
  if (frameType === VideoFrameType.Command) return null;
  const keyframe = frameType === VideoFrameType.Keyframe;
  if (!isExVideo(payload)) {
    if (legacyVideoCodec(payload) === null || payload[1] !== LegacyPacketType.Coded) return null;
    return codedSample(payload.subarray(LEGACY_VIDEO_HEADER), compositionTime(payload, 2), keyframe);
  }
  const h = singleTrack(readExHeader(payload, PacketType.VideoMultitrack));
  if (h === null || !VIDEO_FOURCC.has(h.fourCc)) return null;
  if (h.packetType === PacketType.CodedFramesX) return codedSample(h.body, 0, keyframe);
  if (h.packetType !== PacketType.CodedFrames) return null;
  if (h.fourCc === "avc1" || h.fourCc === "hvc1") {
    // Only these two carry a composition time; it precedes the NAL units.
    return codedSample(h.body.subarray(3), compositionTime(h.body, 0), keyframe);
  }
  const data = h.fourCc === "av01" ? withoutTemporalDelimiter(h.body) : h.body;
  return codedSample(data, 0, keyframe);
}

/** A body too short for its header leaves nothing after it (and a composition time read as 0): no sample. */
function codedSample(data: Uint8Array, compositionOffsetMs: number, keyframe: boolean): SampleView | null {
  return data.length === 0 ? null : { data, compositionOffsetMs, keyframe };
}

/** A signed 24-bit composition time. */
function compositionTime(p: Uint8Array, at: number): number {
  return (readU24(p, at) << 8) >> 8;
}

/** The ISOBMFF binding leaves temporal delimiters out of AV1 samples; an encoder's temporal unit starts with one. */
function withoutTemporalDelimiter(data: Uint8Array): Uint8Array {
  if (((data[0] >> 3) & 0x0f) !== OBU_TEMPORAL_DELIMITER) return data;
  for (const obu of obus(data)) return data.subarray(obu.bytes.length);
  return data;
}

function audioSample(payload: Uint8Array): SampleView | null {
  if (!isExAudio(payload)) {
    if (payload[0] >> 4 !== SOUND_FORMAT_AAC || payload[1] !== LegacyPacketType.Coded) return null;
    return codedSample(payload.subarray(LEGACY_AAC_HEADER), 0, true);
  }
  const h = singleTrack(readExHeader(payload, PacketType.AudioMultitrack));
  if (h === null || h.packetType !== PacketType.CodedFrames || !AUDIO_FOURCC.has(h.fourCc)) return null;
  return codedSample(h.body, 0, true);
}

/**
 * Decode time in a track's timescale from an unwrapped millisecond timestamp: Math.round(ms * timescale / 1000).
 * Durations are differences of consecutive decode times, so no rounding error accumulates.
 */
export function ticks(ms: number, timescale: number): number {
  return Math.round((ms * timescale) / 1000);
}
