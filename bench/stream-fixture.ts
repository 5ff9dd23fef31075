/**
 * A synthetic publisher stream shaped like real H.264 + AAC at about 2.6 Mbit/s: 30 fps video with a
 * keyframe every 2 s (larger), 43 AAC frames per second. Shared by the micro-benchmarks and the fan-out run.
 */
import { MessageType, type RtmpMessage } from "../src/protocol/message.ts";

export const VIDEO_BITRATE = 2_500_000;
export const AUDIO_BITRATE = 128_000;

export function syntheticStream(seconds: number): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  const frameBytes = Math.round(VIDEO_BITRATE / 8 / 30);
  const audioBytes = Math.round(AUDIO_BITRATE / 8 / 43);
  let audioTs = 0;
  for (let f = 0; f < seconds * 30; f++) {
    const ts = Math.round((f * 1000) / 30);
    const key = f % 60 === 0;
    const size = key ? frameBytes * 6 : Math.round(frameBytes * 0.9);
    const video = new Uint8Array(size).fill(f & 0xff);
    video[0] = key ? 0x17 : 0x27;
    video[1] = 1;
    out.push({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: ts, payload: video });
    while (audioTs <= ts) {
      const audio = new Uint8Array(audioBytes).fill(0x55);
      audio[0] = 0xaf;
      audio[1] = 1;
      out.push({ csid: 4, type: MessageType.Audio, streamId: 1, timestamp: Math.round(audioTs), payload: audio });
      audioTs += 1024000 / 44100;
    }
  }
  return out;
}
