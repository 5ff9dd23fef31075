/**
 * What the server logs about a real FFmpeg publish: the codecs as ffprobe sees them (`codec detected`), a
 * `media stats` line every log.stats_interval with a plausible bitrate and frame rate, and a final line at
 * publish stop whose counts publish_stop repeats.
 */
import { describe, expect, it } from "bun:test";
import type { ServerEvent } from "../../src/events/events.ts";
import { liveTest } from "../helpers/live-server.ts";
import { ffprobeJson, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";

/** The source as ffprobe describes it: what the server's own parsing must agree with. */
async function describeSource(file: string) {
  const json = await ffprobeJson(
    ["-show_entries", "stream=codec_type,profile,level,width,height,sample_rate,channels:format=bit_rate"],
    file,
  );
  const streams = json.streams as Record<string, string | number>[];
  const video = streams.find((s) => s.codec_type === "video")!;
  const audio = streams.find((s) => s.codec_type === "audio")!;
  return {
    // ffprobe gives H.264 levels as level_idc: 13 is level 1.3.
    video: {
      profile: video.profile,
      level: (Number(video.level) / 10).toFixed(1),
      width: video.width,
      height: video.height,
    },
    audio: { profile: audio.profile, sample_rate: Number(audio.sample_rate), channels: audio.channels },
    kbps: Number((json.format as Record<string, string>).bit_rate) / 1000,
  };
}

describe.skipIf(!requireFfmpeg())("media statistics of an FFmpeg publish", () => {
  const live = liveTest("media-stats", { adjust: (c) => (c.log.statsIntervalMs = 1_000) });

  it("logs the codecs, media stats every second with a plausible bitrate and fps, and a final line publish_stop repeats", async () => {
    const seconds = 4;
    const source = await testSource();
    const expected = await describeSource(source);
    const events: ServerEvent[] = [];
    live.server.server.events.subscribe((e) => events.push(e));
    const publisher = live.publish(source, "m", { seconds });
    expect(await publisher.waitExit(seconds * 1000 + 10_000), publisher.describe()).toBe(0);
    await waitFor(() => events.some((e) => e.type === "publish_stop"), 5_000, "publish_stop");

    const records = live.server.logs.records().filter((r) => r.stream_key === "live/m");
    const detected = (kind: string) => records.filter((r) => r.msg === "codec detected" && r.kind === kind);
    expect(detected("video").length).toBe(1);
    // The codec's level is logged as codec_level: "level" is the log line's own.
    const { level, ...video } = expected.video;
    expect(detected("video")[0]).toMatchObject({ codec: "H264", ...video, codec_level: level });
    const videoEvent = events.find((e) => e.type === "codec_detected" && e.data.kind === "video");
    expect(videoEvent?.data.level).toBe(level);
    expect(detected("audio").length).toBe(1);
    expect(detected("audio")[0]).toMatchObject({ codec: "AAC", ...expected.audio });

    const stats = records.filter((r) => r.msg === "media stats");
    const periodic = stats.filter((r) => r.final !== true);
    expect(periodic.length, "periodic media stats lines").toBeGreaterThanOrEqual(seconds - 2);
    const times = periodic.map((r) => Date.parse(String(r.time)));
    for (let i = 1; i < times.length; i++) {
      expect(times[i] - times[i - 1], "ms between media stats lines").toBeGreaterThanOrEqual(900);
      expect(times[i] - times[i - 1], "ms between media stats lines").toBeLessThan(2_500);
    }
    for (const line of periodic) {
      expect(line).toMatchObject({ video_codec: "H264", width: 320, height: 240, audio_codec: "AAC", sample_rate: 44100 });
    }
    // Once a second of media is in the window, the rates are the source's, within generous bounds.
    const settled = periodic.filter((r) => Number(r.duration_s) >= 1.5);
    expect(settled.length, "media stats lines past the first 1.5 s").toBeGreaterThanOrEqual(1);
    for (const line of settled) {
      expect(Number(line.fps), JSON.stringify(line)).toBeWithin(15, 35);
      expect(Number(line.bitrate_kbps), JSON.stringify(line)).toBeWithin(expected.kbps / 2, expected.kbps * 2);
    }

    const final = stats.filter((r) => r.final === true);
    expect(final.length).toBe(1);
    expect(stats.at(-1)).toBe(final[0]);
    const stop = events.find((e) => e.type === "publish_stop")!.data;
    expect(stop).toEqual({
      audio_packets: final[0].audio_packets as number,
      video_packets: final[0].video_packets as number,
      total_bytes: final[0].total_bytes as number,
      audio_codec: "AAC",
      video_codec: "H264",
      duration_sec: final[0].duration_s as number,
    });
    // -t 4 of a 25 fps source with an audio frame every 1024 samples at 44.1 kHz.
    expect(Number(stop.video_packets)).toBeWithin(seconds * 25 - 5, seconds * 25 + 5);
    expect(Number(stop.audio_packets)).toBeWithin((seconds * 44_100) / 1024 - 5, (seconds * 44_100) / 1024 + 5);
    expect(Number(stop.total_bytes)).toBe(Number(final[0].video_bytes) + Number(final[0].audio_bytes));
  }, 30_000);
});
