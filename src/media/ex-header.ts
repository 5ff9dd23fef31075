/**
 * The Enhanced RTMP header of an audio or video message, read as far as the first track's body: the packet
 * type that applies (after any ModEx blocks and the multitrack byte), the FourCC, and the body's bytes, bounded
 * by the track size when the message carries several tracks. Never throws; null when the payload ends first.
 */

export interface ExHeader {
  packetType: number;
  fourCc: string;
  body: Uint8Array;
}

/** Packet types shared by audio and video, and the multitrack type of each. */
export const PacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  CodedFramesX: 3,
  AudioMultitrack: 5,
  VideoMultitrack: 6,
  ModEx: 7,
} as const;

const ONE_TRACK = 0;
/** ModEx data of 256 bytes or more: the size is in the next 16 bits. */
const MOD_EX_LONG = 256;

/** `multitrack`: PacketType.AudioMultitrack or PacketType.VideoMultitrack. */
export function readExHeader(payload: Uint8Array, multitrack: number): ExHeader | null {
  let at = 1;
  let packetType = payload[0] & 0x0f;
  while (packetType === PacketType.ModEx) {
    if (at >= payload.length) return null;
    let size = payload[at] + 1;
    at += 1;
    if (size === MOD_EX_LONG) {
      if (at + 2 > payload.length) return null;
      size = ((payload[at] << 8) | payload[at + 1]) + 1;
      at += 2;
    }
    at += size;
    if (at >= payload.length) return null;
    packetType = payload[at] & 0x0f;
    at += 1;
  }
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
  if (!isMultitrack) return { packetType, fourCc, body: payload.subarray(at) };
  at += 1; // trackId
  if (layout === ONE_TRACK) return at <= payload.length ? { packetType, fourCc, body: payload.subarray(at) } : null;
  if (at + 3 > payload.length) return null;
  const size = (payload[at] << 16) | (payload[at + 1] << 8) | payload[at + 2];
  at += 3;
  return { packetType, fourCc, body: payload.subarray(at, at + size) };
}
