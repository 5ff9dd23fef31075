/**
 * Reads the first bytes of FLV/RTMP audio and video bodies, legacy and Enhanced RTMP, to tell keyframes and
 * sequence headers (for the GOP cache and late joiners) and to name codecs (for logs and stats). Never throws:
 * a payload too short to say is "not a keyframe", "not a sequence header" or an unknown codec.
 */

/** Enhanced RTMP packet types that change the layout, and the ones we look for. */
const SEQUENCE_START = 0;
/** AVC/HEVC packet type 2 and Enhanced RTMP's SequenceEnd: an end-of-stream marker. */
const SEQUENCE_END = 2;
/** Video only: an AV1 configuration carried as an MPEG-2 TS descriptor, a sequence start all the same. */
const MPEG2TS_SEQUENCE_START = 5;
const VIDEO_METADATA = 4;
const VIDEO_MULTITRACK = 6;
const AUDIO_MULTITRACK = 5;
const MOD_EX = 7;

/** Header nibbles: frame types, sound formats and codec ids. */
const VIDEO_KEYFRAME = 1;
const VIDEO_COMMAND = 5;
const AUDIO_EX_HEADER = 9;
const AUDIO_AAC = 10;
const VIDEO_AVC = 7;
const VIDEO_HEVC_LEGACY = 12;

function readU32(p: Uint8Array, at: number): number {
  return ((p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3]) >>> 0;
}

function fourCc(text: string): number {
  return readU32(new TextEncoder().encode(text), 0);
}

const VIDEO_FOURCC = new Map<number, string>([
  [fourCc("avc1"), "H264"],
  [fourCc("hvc1"), "H265"],
  [fourCc("vvc1"), "H266"],
  [fourCc("av01"), "AV1"],
  [fourCc("vp09"), "VP9"],
  [fourCc("vp08"), "VP8"],
]);

const AUDIO_FOURCC = new Map<number, string>([
  [fourCc("mp4a"), "AAC"],
  [fourCc(".mp3"), "MP3"],
  [fourCc("Opus"), "Opus"],
  [fourCc("fLaC"), "FLAC"],
  [fourCc("ac-3"), "AC3"],
  [fourCc("ec-3"), "EAC3"],
]);

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

/** Legacy FLV sound formats (high nibble of byte 0); 9 is the Enhanced RTMP ex-header marker. */
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

function isExVideo(p: Uint8Array): boolean {
  return (p[0] & 0x80) !== 0;
}

function isExAudio(p: Uint8Array): boolean {
  return p[0] >> 4 === AUDIO_EX_HEADER;
}

/**
 * Walks an Enhanced RTMP header past ModEx blocks and the multitrack byte to where the (first track's) FourCC
 * starts, or returns -1 if there is none or the payload ends first. The packet type that applies is always the
 * low nibble of the byte just before that offset.
 */
function fourCcOffset(p: Uint8Array, multitrack: number, command: boolean): number {
  let at = 1;
  let packetType = p[0] & 0x0f;
  while (packetType === MOD_EX) {
    if (at >= p.length) return -1;
    let size = p[at] + 1;
    at += 1;
    if (size === 256) {
      if (at + 2 > p.length) return -1;
      size = ((p[at] << 8) | p[at + 1]) + 1;
      at += 2;
    }
    at += size;
    if (at >= p.length) return -1;
    packetType = p[at] & 0x0f;
    at += 1;
  }
  // A video command frame carries a command byte, not a FourCC, unless it is metadata.
  if (command && packetType !== VIDEO_METADATA) return -1;
  // Multitrack: one byte (track layout | real packet type); the first track's FourCC follows it in every layout.
  if (packetType === multitrack) at += 1;
  return at + 4 <= p.length ? at : -1;
}

function videoFrameType(p: Uint8Array): number {
  return isExVideo(p) ? (p[0] >> 4) & 7 : p[0] >> 4;
}

function exVideoFourCcOffset(p: Uint8Array): number {
  return fourCcOffset(p, VIDEO_MULTITRACK, videoFrameType(p) === VIDEO_COMMAND);
}

/**
 * Frame type 1, legacy or Enhanced. Sequence headers are flagged as keyframes too, so check
 * isVideoSequenceHeader first.
 */
export function isVideoKeyframe(payload: Uint8Array): boolean {
  return payload.length >= 2 && videoFrameType(payload) === VIDEO_KEYFRAME;
}

/**
 * Whether a video body is an end-of-sequence marker. Encoders flag it as a keyframe (FFmpeg ends every H.264
 * stream with one), but it holds no picture: nothing can start from it, and no index may point to it.
 */
export function isVideoSequenceEnd(payload: Uint8Array): boolean {
  if (payload.length < 2 || videoFrameType(payload) === VIDEO_COMMAND) return false;
  if (isExVideo(payload)) {
    const at = exVideoFourCcOffset(payload);
    return at > 0 && (payload[at - 1] & 0x0f) === SEQUENCE_END;
  }
  const codecId = payload[0] & 0x0f;
  return (codecId === VIDEO_AVC || codecId === VIDEO_HEVC_LEGACY) && payload[1] === SEQUENCE_END;
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
  if (payload.length < 2 || videoFrameType(payload) === VIDEO_COMMAND) return false;
  if (isExVideo(payload)) {
    const at = exVideoFourCcOffset(payload);
    const packetType = payload[at - 1] & 0x0f;
    return at > 0 && (packetType === SEQUENCE_START || packetType === MPEG2TS_SEQUENCE_START);
  }
  const codecId = payload[0] & 0x0f;
  return (codecId === VIDEO_AVC || codecId === VIDEO_HEVC_LEGACY) && payload[1] === 0;
}

/** AAC packet type 0 (AudioSpecificConfig), or Enhanced RTMP SequenceStart. */
export function isAudioSequenceHeader(payload: Uint8Array): boolean {
  if (payload.length < 2) return false;
  if (isExAudio(payload)) {
    const at = fourCcOffset(payload, AUDIO_MULTITRACK, false);
    return at > 0 && (payload[at - 1] & 0x0f) === SEQUENCE_START;
  }
  return payload[0] >> 4 === AUDIO_AAC && payload[1] === 0;
}

/** "H264", "H265", "AV1", "VP9", …, or null when unknown or too short to tell. */
export function videoCodecName(payload: Uint8Array): string | null {
  if (payload.length < 2) return null;
  if (isExVideo(payload)) {
    const at = exVideoFourCcOffset(payload);
    return at > 0 ? (VIDEO_FOURCC.get(readU32(payload, at)) ?? null) : null;
  }
  return VIDEO_CODEC_ID[payload[0] & 0x0f] ?? null;
}

/** "AAC", "MP3", "Opus", "Speex", …, or null when unknown or too short to tell. */
export function audioCodecName(payload: Uint8Array): string | null {
  if (payload.length < 2) return null;
  if (isExAudio(payload)) {
    const at = fourCcOffset(payload, AUDIO_MULTITRACK, false);
    return at > 0 ? (AUDIO_FOURCC.get(readU32(payload, at)) ?? null) : null;
  }
  return SOUND_FORMAT[payload[0] >> 4] ?? null;
}
