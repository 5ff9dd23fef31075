/**
 * Reads the first bytes of FLV/RTMP audio and video bodies, legacy and Enhanced RTMP, to tell keyframes and
 * sequence headers (for the GOP cache and late joiners) and to name codecs (for logs and stats). Never throws:
 * a payload too short to say is "not a keyframe", "not a sequence header" or an unknown codec.
 */
import {
  audioFourCc,
  audioPacketType,
  fourCcCode,
  isExAudio,
  isExVideo,
  PacketType,
  VideoFrameType,
  videoFourCc,
  videoFrameType,
  videoPacketType,
} from "./ex-header.ts";

/** Legacy headers whose byte 1 is a packet type: sound format AAC, video codec ids AVC and HEVC (12, non-standard). */
export const SOUND_FORMAT_AAC = 10;
export const VIDEO_CODEC_AVC = 7;
export const VIDEO_CODEC_HEVC = 12;
/** Byte 1 of a legacy AAC, AVC or HEVC body. */
export const LegacyPacketType = { SequenceHeader: 0, Coded: 1, EndOfSequence: 2 } as const;
/** Bytes before the configuration record or the coded data: flags, packet type, and for video a composition time. */
export const LEGACY_VIDEO_HEADER = 5;
export const LEGACY_AAC_HEADER = 2;

/** Enhanced RTMP FourCCs, keyed as videoFourCc and audioFourCc return them. */
const VIDEO_FOURCC = byFourCc({ avc1: "H264", hvc1: "H265", vvc1: "H266", av01: "AV1", vp09: "VP9", vp08: "VP8" });
const AUDIO_FOURCC = byFourCc({ mp4a: "AAC", ".mp3": "MP3", Opus: "Opus", fLaC: "FLAC", "ac-3": "AC3", "ec-3": "EAC3" });

function byFourCc(names: Record<string, string>): Map<number, string> {
  return new Map(Object.entries(names).map(([fourCc, name]) => [fourCcCode(fourCc), name]));
}

/** Legacy FLV video codec ids (low nibble of byte 0); 12 is the widely used non-standard HEVC id. */
const VIDEO_CODEC_ID: Record<number, string> = {
  1: "JPEG",
  2: "H263",
  3: "ScreenVideo",
  4: "VP6",
  5: "VP6A",
  6: "ScreenVideo2",
  7: "H264",
  12: "H265",
};

/** Legacy FLV sound formats (high nibble of byte 0); 9 marks an Enhanced RTMP header (ex-header.ts). */
const SOUND_FORMAT: Record<number, string> = {
  0: "PCM",
  1: "ADPCM",
  2: "MP3",
  3: "PCM",
  4: "Nellymoser",
  5: "Nellymoser",
  6: "Nellymoser",
  7: "G711A",
  8: "G711U",
  10: "AAC",
  11: "Speex",
  14: "MP3",
};

/**
 * Frame type 1, legacy or Enhanced. Sequence headers are flagged as keyframes too, so check
 * isVideoSequenceHeader first.
 */
export function isVideoKeyframe(payload: Uint8Array): boolean {
  return payload.length >= 2 && videoFrameType(payload) === VideoFrameType.Keyframe;
}

/**
 * Whether a video body is an end-of-sequence marker. Encoders flag it as a keyframe (FFmpeg ends every H.264
 * stream with one), but it holds no picture: nothing can start from it, and no index may point to it.
 */
export function isVideoSequenceEnd(payload: Uint8Array): boolean {
  if (payload.length < 2 || videoFrameType(payload) === VideoFrameType.Command) return false;
  if (isExVideo(payload)) return videoPacketType(payload) === PacketType.SequenceEnd;
  const codecId = payload[0] & 0x0f;
  return (codecId === VIDEO_CODEC_AVC || codecId === VIDEO_CODEC_HEVC) && payload[1] === LegacyPacketType.EndOfSequence;
}

/**
 * A keyframe with a picture in it (sequence headers excluded by the caller, as for isVideoKeyframe): where a
 * player, a recording, a segment or a seek may start, and where the GOP cache starts over.
 */
export function opensGop(payload: Uint8Array): boolean {
  return isVideoKeyframe(payload) && !isVideoSequenceEnd(payload);
}

/** Decoder configuration: AVC/HEVC packet type 0, or Enhanced RTMP SequenceStart. */
export function isVideoSequenceHeader(payload: Uint8Array): boolean {
  if (payload.length < 2 || videoFrameType(payload) === VideoFrameType.Command) return false;
  if (isExVideo(payload)) {
    const packetType = videoPacketType(payload);
    return packetType === PacketType.SequenceStart || packetType === PacketType.MPEG2TSSequenceStart;
  }
  const codecId = payload[0] & 0x0f;
  return (codecId === VIDEO_CODEC_AVC || codecId === VIDEO_CODEC_HEVC) && payload[1] === LegacyPacketType.SequenceHeader;
}

/** AAC packet type 0 (AudioSpecificConfig), or Enhanced RTMP SequenceStart. */
export function isAudioSequenceHeader(payload: Uint8Array): boolean {
  if (payload.length < 2) return false;
  if (isExAudio(payload)) return audioPacketType(payload) === PacketType.SequenceStart;
  return payload[0] >> 4 === SOUND_FORMAT_AAC && payload[1] === LegacyPacketType.SequenceHeader;
}

/** "H264", "H265", "AV1", "VP9", …, or null when unknown or too short to tell. */
export function videoCodecName(payload: Uint8Array): string | null {
  if (payload.length < 2) return null;
  if (isExVideo(payload)) return VIDEO_FOURCC.get(videoFourCc(payload)) ?? null;
  return VIDEO_CODEC_ID[payload[0] & 0x0f] ?? null;
}

/** "AAC", "MP3", "Opus", "Speex", …, or null when unknown or too short to tell. */
export function audioCodecName(payload: Uint8Array): string | null {
  if (payload.length < 2) return null;
  if (isExAudio(payload)) return AUDIO_FOURCC.get(audioFourCc(payload)) ?? null;
  return SOUND_FORMAT[payload[0] >> 4] ?? null;
}
