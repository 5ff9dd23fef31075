/**
 * A synthetic publisher stream shaped like real H.264 + AAC at about 2.6 Mbit/s: 30 fps video with a
 * keyframe every 2 s (larger), 43 AAC frames per second, and the metadata and sequence headers an encoder
 * sends first. Shared by the micro-benchmarks and the end-to-end loads.
 */
import { EcmaArray } from "../src/protocol/amf0.ts";
import { encodeData } from "../src/protocol/command.ts";
import { Csid, MessageType, type RtmpMessage } from "../src/protocol/message.ts";

export const VIDEO_BITRATE = 2_500_000;
export const AUDIO_BITRATE = 128_000;
/** Chunk streams of video and audio, the ones FFmpeg uses (seen with strace). */
const VIDEO_CSID = 6;
const AUDIO_CSID = 4;

export function syntheticStream(seconds: number): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  const frameBytes = Math.round(VIDEO_BITRATE / 8 / 30);
  const audioBytes = Math.round(AUDIO_BITRATE / 8 / 43);
  let audioTs = 0;
  let audioFrames = 0;
  for (let f = 0; f < seconds * 30; f++) {
    const ts = Math.round((f * 1000) / 30);
    const key = f % 60 === 0;
    // Sizes vary a little, as an encoder's do, so headers compress as they do for FFmpeg (mostly FMT1).
    const size = key ? frameBytes * 6 : Math.round(frameBytes * (0.9 + spread(f, 0.05)));
    const video = new Uint8Array(size).fill(f & 0xff);
    video[0] = key ? 0x17 : 0x27;
    video[1] = 1;
    out.push({ csid: VIDEO_CSID, type: MessageType.Video, streamId: 1, timestamp: ts, payload: video });
    while (audioTs <= ts) {
      const audio = new Uint8Array(Math.round(audioBytes * (1 + spread(audioFrames++, 0.05)))).fill(0x55);
      audio[0] = 0xaf;
      audio[1] = 1;
      out.push({ csid: AUDIO_CSID, type: MessageType.Audio, streamId: 1, timestamp: Math.round(audioTs), payload: audio });
      audioTs += 1024000 / 44100;
    }
  }
  return out;
}

/** A deterministic value in [-range, range] that jumps around with i and averages about 0. */
function spread(i: number, range: number): number {
  return (((i * 7919) % 101) / 50 - 1) * range;
}

/** Metadata and the AVC and AAC sequence headers, sent before the first frame; servers cache them for late joiners. */
export function streamPreamble(streamId: number): RtmpMessage[] {
  const avcConfig = [
    ...[0x17, 0, 0, 0, 0], // keyframe, AVC, sequence header, composition time 0
    ...[1, 0x64, 0, 0x1f, 0xff, 0xe1], // configuration version, profile, compatibility, level, NALU length 4, 1 SPS
    ...[0, 4, 0x67, 0x64, 0, 0x1f], // the SPS
    ...[1, 0, 4, 0x68, 0xee, 0x3c, 0x80], // 1 PPS
  ];
  const metadata = new EcmaArray({
    width: 1280,
    height: 720,
    framerate: 30,
    videocodecid: 7,
    videodatarate: VIDEO_BITRATE / 1000,
    audiocodecid: 10,
    audiodatarate: AUDIO_BITRATE / 1000,
    audiosamplerate: 44100,
  });
  const base = { streamId, timestamp: 0 };
  return [
    { ...base, csid: Csid.Data, type: MessageType.DataAmf0, payload: encodeData("@setDataFrame", "onMetaData", metadata) },
    { ...base, csid: VIDEO_CSID, type: MessageType.Video, payload: Uint8Array.from(avcConfig) },
    { ...base, csid: AUDIO_CSID, type: MessageType.Audio, payload: Uint8Array.from([0xaf, 0x00, 0x12, 0x10]) },
  ];
}
