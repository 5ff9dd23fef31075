/**
 * What the tests that play HLS from a live server share: the server's HLS config, a stream's playlist URL, and
 * an HEVC publish (real libx265 frames over Enhanced RTMP, which the FFmpeg here cannot publish).
 */
import type { Config } from "../../src/config/config.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { enhancedVideoStream, FRAME_MS } from "../helpers/enhanced-stream.ts";
import type { LiveTest } from "../helpers/live-server.ts";
import { TestRtmpClient } from "../../support/rtmp-test-client.ts";

/** HLS on (low latency or plain) with the HTTP server on 127.0.0.1 and an OS-chosen port. */
export function hlsConfig(lowLatency: boolean): (config: Config) => void {
  return (config) => {
    config.http.listen = { host: "127.0.0.1", port: 0 };
    config.hls.enabled = true;
    config.hls.lowLatency = lowLatency;
  };
}

export function playlistUrl(live: LiveTest, name: string): string {
  return `http://127.0.0.1:${live.server.server.httpPort}/live/${name}/index.m3u8`;
}

export interface HevcPublish {
  width: number;
  height: number;
  stop(): Promise<void>;
}

/**
 * Publishes HEVC video (no audio) to `url` (rtmp://.../live/NAME) as `name`, in real time until stopped: the
 * sequence start once, then the coded frames over and over, their timestamps carried on; the first 12 frames
 * (a GOP and more) at once, so that a muxer can start.
 */
export async function publishHevc(url: string, name: string): Promise<HevcPublish> {
  const { messages, width, height } = await enhancedVideoStream("hvc1", { frames: 60 });
  const publisher = await TestRtmpClient.connect(url);
  let streamId: number;
  try {
    streamId = await publisher.createStream();
    await publisher.publish(streamId, name);
  } catch (error) {
    await publisher.close();
    throw error;
  }
  const [start, ...frames] = messages;
  publisher.send({ csid: 6, type: MessageType.Video, streamId, timestamp: 0, payload: start.payload });
  const loop = frames.length * FRAME_MS;
  let sent = 0;
  const send = () => {
    const m = frames[sent % frames.length];
    const timestamp = Math.floor(sent / frames.length) * loop + m.timestamp;
    publisher.send({ csid: 6, type: MessageType.Video, streamId, timestamp, payload: m.payload });
    sent++;
  };
  for (let i = 0; i < 12; i++) send();
  const timer = setInterval(send, FRAME_MS);
  return {
    width,
    height,
    stop: async () => {
      clearInterval(timer);
      await publisher.close();
    },
  };
}
