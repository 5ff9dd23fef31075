/**
 * What a publisher's stream is, read from the messages that describe it: video and audio sequence headers
 * (legacy FLV and Enhanced RTMP), and for audio codecs without one, the frames themselves. Codec names are
 * codec-info's. Never throws; a header we cannot read gives the codec name alone.
 */
import {
  audioCodecName,
  isAudioSequenceHeader,
  isVideoSequenceHeader,
  LEGACY_AAC_HEADER,
  LEGACY_VIDEO_HEADER,
  videoCodecName,
} from "./codec-info.ts";
import { aacConfigDetails } from "./aac.ts";
import { ac3FrameDetails } from "./ac3.ts";
import { av1ConfigDetails } from "./av1.ts";
import { isExAudio, isExVideo, PacketType, readExHeader } from "./ex-header.ts";
import { flacConfigDetails } from "./flac.ts";
import { avcConfigDetails } from "./h264.ts";
import { hevcConfigDetails } from "./h265.ts";
import { mpegAudioFrameDetails } from "./mpeg-audio.ts";
import { opusConfigDetails } from "./opus.ts";
import { vpConfigDetails } from "./vpcc.ts";

export interface VideoDetails {
  /** codec-info's name: "H264", "H265", "AV1", "VP9", "VP8", "H266", or a legacy FLV codec. */
  codec: string;
  profile?: string;
  /** "3.1", "4.0", "1b" … */
  level?: string;
  /** The displayed size (cropping applied); for AV1 the maximum frame size; never known for VP8/VP9. */
  width?: number;
  height?: number;
  /** Luma bit depth. */
  bitDepth?: number;
  /** "4:2:0", "4:2:2", "4:4:4", "4:0:0". */
  chroma?: string;
}

export interface AudioDetails {
  /** codec-info's name: "AAC", "MP3", "Opus", "FLAC", "AC3", "EAC3", "Speex", … */
  codec: string;
  /** AAC: "LC", "HE-AAC", "HE-AACv2", "Main", … */
  profile?: string;
  sampleRate?: number;
  channels?: number;
}

/** Details from a video sequence header; null for any other message or a codec we cannot name. */
export function videoDetails(payload: Uint8Array): VideoDetails | null {
  if (!isVideoSequenceHeader(payload)) return null;
  const codec = videoCodecName(payload);
  if (codec === null) return null;
  const record = isExVideo(payload)
    ? readExHeader(payload, PacketType.VideoMultitrack)?.body
    : payload.subarray(LEGACY_VIDEO_HEADER);
  if (record === undefined) return { codec };
  switch (codec) {
    case "H264":
      return avcConfigDetails(record);
    case "H265":
      return hevcConfigDetails(record);
    case "AV1":
      return av1ConfigDetails(record);
    case "VP9":
    case "VP8":
      return vpConfigDetails(record, codec);
    default:
      return { codec };
  }
}

/**
 * Details from an audio message that describes the stream: a sequence header (AAC, Opus, FLAC), or any frame
 * of a codec that has none (legacy MP3, Speex, PCM …; Enhanced RTMP MP3, AC-3, E-AC-3). Null otherwise.
 * Call it on every audio sequence header, and on other audio messages while the details have no sample rate.
 */
export function audioDetails(payload: Uint8Array): AudioDetails | null {
  const codec = audioCodecName(payload);
  if (codec === null) return null;
  if (isExAudio(payload)) return exAudioDetails(payload, codec);
  if (codec === "AAC") {
    return isAudioSequenceHeader(payload) ? aacConfigDetails(payload.subarray(LEGACY_AAC_HEADER)) : null;
  }
  if (codec === "MP3") return mpegAudioFrameDetails(payload.subarray(1)) ?? legacyFlagDetails(payload[0], codec);
  return legacyFlagDetails(payload[0], codec);
}

function exAudioDetails(payload: Uint8Array, codec: string): AudioDetails | null {
  const header = readExHeader(payload, PacketType.AudioMultitrack);
  if (header === null) return null;
  const { packetType, body } = header;
  if (packetType === PacketType.SequenceStart) {
    if (codec === "AAC") return aacConfigDetails(body);
    if (codec === "Opus") return opusConfigDetails(body);
    if (codec === "FLAC") return flacConfigDetails(body);
    return { codec };
  }
  if (packetType !== PacketType.CodedFrames) return null;
  if (codec === "MP3") return mpegAudioFrameDetails(body) ?? { codec };
  if (codec === "AC3" || codec === "EAC3") return ac3FrameDetails(body, codec);
  return null;
}

/** SoundRate (2 bits) and SoundType (1 bit) of the legacy header, with the formats that fix their own. */
function legacyFlagDetails(flags: number, codec: string): AudioDetails {
  const channels = (flags & 0x01) + 1;
  switch (flags >> 4) {
    case 4: // Nellymoser 16 kHz mono
      return { codec, sampleRate: 16_000, channels: 1 };
    case 5: // Nellymoser 8 kHz mono
      return { codec, sampleRate: 8_000, channels: 1 };
    case 7: // G.711 A-law and mu-law are 8 kHz whatever the flags say
    case 8:
    case 14: // MP3 8 kHz
      return { codec, sampleRate: 8_000, channels };
    case 11: // Speex: always 16 kHz mono (the FLV specification)
      return { codec, sampleRate: 16_000, channels: 1 };
    default:
      return { codec, sampleRate: LEGACY_RATES[(flags >> 2) & 0x03], channels };
  }
}

const LEGACY_RATES = [5_512, 11_025, 22_050, 44_100];
