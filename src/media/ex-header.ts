/**
 * The Enhanced RTMP header of an audio or video message: the marks that tell it from a legacy FLV header, its
 * packet types, and the one walk past ModEx blocks and the multitrack byte to the (first track's) FourCC and
 * body. Never throws; a payload that ends first has no FourCC (-1) and no header (null).
 */
import { readU16, readU24, readU32 } from "../protocol/bytes.ts";

/** Packet types (low nibble of the byte after the header marks, or of the multitrack byte). */
export const PacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  CodedFramesX: 3,
  /** Video only (for audio, 4 is MultichannelConfig). */
  Metadata: 4,
  /** Video only: an AV1 configuration carried as an MPEG-2 TS descriptor, a sequence start all the same. */
  MPEG2TSSequenceStart: 5,
  AudioMultitrack: 5,
  VideoMultitrack: 6,
  ModEx: 7,
} as const;

/** Video frame types (bits 4-6 of byte 0 in an Enhanced header, the high nibble in a legacy one). */
export const VideoFrameType = {
  Keyframe: 1,
  /** A command (start or end of seek) rather than a picture; carries no FourCC unless it is Metadata. */
  Command: 5,
} as const;

/** The legacy sound format (high nibble of byte 0) that marks an Enhanced RTMP audio header. */
const SOUND_FORMAT_EX_HEADER = 9;
const IS_EX_VIDEO_HEADER = 0x80;
const ONE_TRACK = 0;
/** ModEx data of 256 bytes or more: the size is in the next 16 bits. */
const MOD_EX_LONG = 256;

export function isExVideo(payload: Uint8Array): boolean {
  return (payload[0] & IS_EX_VIDEO_HEADER) !== 0;
}

export function isExAudio(payload: Uint8Array): boolean {
  return payload[0] >> 4 === SOUND_FORMAT_EX_HEADER;
}

/** A video body's frame type, legacy or Enhanced. */
export function videoFrameType(payload: Uint8Array): number {
  return isExVideo(payload) ? (payload[0] >> 4) & 7 : payload[0] >> 4;
}

/**
 * Where the bytes after the packet type start, past any ModEx blocks (each: a size, that many bytes, then a
 * byte whose low nibble is the next packet type); -1 when the payload ends inside one. The packet type that
 * applies is the low nibble of the byte just before the offset returned.
 */
function skipModEx(payload: Uint8Array): number {
  let at = 1;
  while ((payload[at - 1] & 0x0f) === PacketType.ModEx) {
    if (at >= payload.length) return -1;
    let size = payload[at] + 1;
    at += 1;
    if (size === MOD_EX_LONG) {
      if (at + 2 > payload.length) return -1;
      size = readU16(payload, at) + 1;
      at += 2;
    }
    at += size;
    if (at >= payload.length) return -1;
    at += 1;
  }
  return at;
}

/**
 * Where the (first track's) FourCC starts, or -1 if there is none or the payload ends first. The packet type
 * that applies is always the low nibble of the byte just before that offset.
 */
function fourCcOffset(payload: Uint8Array, multitrack: number, command: boolean): number {
  let at = skipModEx(payload);
  if (at < 0) return -1;
  const packetType = payload[at - 1] & 0x0f;
  if (command && packetType !== PacketType.Metadata) return -1;
  // Multitrack: one byte (track layout | real packet type); the first track's FourCC follows it in every layout.
  if (packetType === multitrack) at += 1;
  return at + 4 <= payload.length ? at : -1;
}

/** The packet type that applies to an Enhanced RTMP video body, or -1 when it has no FourCC (a command frame, cut off). */
export function videoPacketType(payload: Uint8Array): number {
  const at = videoFourCcOffset(payload);
  return at > 0 ? payload[at - 1] & 0x0f : -1;
}

/** The packet type that applies to an Enhanced RTMP audio body, or -1 when it is cut off before its FourCC. */
export function audioPacketType(payload: Uint8Array): number {
  const at = audioFourCcOffset(payload);
  return at > 0 ? payload[at - 1] & 0x0f : -1;
}

/** The (first track's) FourCC of an Enhanced RTMP video body as fourCcCode() codes it, or -1 when it has none. */
export function videoFourCc(payload: Uint8Array): number {
  const at = videoFourCcOffset(payload);
  return at > 0 ? readU32(payload, at) : -1;
}

/** The (first track's) FourCC of an Enhanced RTMP audio body as fourCcCode() codes it, or -1 when it has none. */
export function audioFourCc(payload: Uint8Array): number {
  const at = audioFourCcOffset(payload);
  return at > 0 ? readU32(payload, at) : -1;
}

/** "hvc1" (or ExHeader.fourCc) as the 32-bit number videoFourCc and audioFourCc return. */
export function fourCcCode(text: string): number {
  return readU32(Uint8Array.from(text, (c) => c.charCodeAt(0)), 0);
}

function videoFourCcOffset(payload: Uint8Array): number {
  return fourCcOffset(payload, PacketType.VideoMultitrack, videoFrameType(payload) === VideoFrameType.Command);
}

function audioFourCcOffset(payload: Uint8Array): number {
  return fourCcOffset(payload, PacketType.AudioMultitrack, false);
}

export interface ExHeader {
  packetType: number;
  fourCc: string;
  body: Uint8Array;
  /** One track of a multitrack message (the fMP4 writer carries only single-track streams). */
  multitrack: boolean;
}

/**
 * The header read as far as the first track's body: the packet type that applies, the FourCC, and the body,
 * bounded by the track size when the message carries several tracks. `multitrack`: PacketType.AudioMultitrack
 * or PacketType.VideoMultitrack.
 */
export function readExHeader(payload: Uint8Array, multitrack: number): ExHeader | null {
  let at = skipModEx(payload);
  if (at < 0) return null;
  let packetType = payload[at - 1] & 0x0f;
  const isMultitrack = packetType === multitrack;
  let layout = ONE_TRACK;
  if (isMultitrack) {
    if (at >= payload.length) return null;
    layout = payload[at] >> 4;
    packetType = payload[at] & 0x0f;
    at += 1;
  }
  if (at + 4 > payload.length) return null;
  const fourCc = String.fromCharCode(payload[at], payload[at + 1], payload[at + 2], payload[at + 3]);
  at += 4;
  if (!isMultitrack) return { packetType, fourCc, body: payload.subarray(at), multitrack: false };
  at += 1; // trackId
  if (layout === ONE_TRACK) {
    return at <= payload.length ? { packetType, fourCc, body: payload.subarray(at), multitrack: true } : null;
  }
  if (at + 3 > payload.length) return null;
  const size = readU24(payload, at);
  at += 3;
  return { packetType, fourCc, body: payload.subarray(at, at + size), multitrack: true };
}
