/**
 * What a benchmark HLS viewer reads of an MPEG-TS segment (nginx-rtmp's HLS): the start of each PES packet of
 * video or audio, with its decode time (ISO/IEC 13818-1 2.4.3 and 2.4.3.7). nginx-rtmp writes a PES per video
 * frame and gathers several AAC frames into one, so audio counts in PES packets, not frames.
 */

export interface TsFrame {
  video: boolean;
  /** DTS (PTS when there is none), in ms. */
  decodeMs: number;
}

const PACKET = 188;
const SYNC = 0x47;
/** stream_id ranges of MPEG audio and video streams. */
const AUDIO_IDS = [0xc0, 0xdf];
const VIDEO_IDS = [0xe0, 0xef];
/** A PES header's bytes up to the end of its PTS, and of its DTS. */
const PES_TO_PTS = 14;
const PES_TO_DTS = 19;

/** A 33-bit timestamp (PTS or DTS) at `at`: 3 + 15 + 15 bits, each group followed by a marker bit. */
function timestamp(p: Uint8Array, at: number): number {
  return (
    ((p[at] >> 1) & 0x07) * 2 ** 30 +
    ((p[at + 1] << 7) | (p[at + 2] >> 1)) * 2 ** 15 +
    ((p[at + 3] << 7) | (p[at + 4] >> 1))
  );
}

/** Throws on bytes that are not whole transport packets. */
export function tsFrames(bytes: Uint8Array): TsFrame[] {
  if (bytes.length % PACKET !== 0) throw new Error(`${bytes.length} bytes are not whole TS packets`);
  const frames: TsFrame[] = [];
  for (let at = 0; at < bytes.length; at += PACKET) {
    const packet = bytes.subarray(at, at + PACKET);
    if (packet[0] !== SYNC) throw new Error(`no sync byte at ${at}`);
    const unitStart = (packet[1] & 0x40) !== 0;
    const control = (packet[3] >> 4) & 0x03;
    if (!unitStart || (control & 0x01) === 0) continue;
    const p = packet.subarray(control & 0x02 ? 5 + packet[4] : 4);
    if (p.length < PES_TO_PTS || p[0] !== 0 || p[1] !== 0 || p[2] !== 1) continue;
    const id = p[3];
    const video = id >= VIDEO_IDS[0] && id <= VIDEO_IDS[1];
    if (!video && (id < AUDIO_IDS[0] || id > AUDIO_IDS[1])) continue;
    // PTS_DTS_flags: 2 a PTS, 3 a PTS and a DTS.
    const times = p[7] >> 6;
    if (times < 2 || (times === 3 && p.length < PES_TO_DTS)) continue;
    frames.push({ video, decodeMs: timestamp(p, times === 3 ? 14 : 9) / 90 });
  }
  return frames;
}
