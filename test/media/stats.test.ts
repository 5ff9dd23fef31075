import { describe, expect, it } from "bun:test";
import { MediaStats, STATS_WINDOW_S } from "../../src/media/stats.ts";

const START = 10_000;
const VIDEO_BYTES = 5_000;
const AUDIO_BYTES = 250;

/**
 * A publisher on a fake clock: 25 fps video of 5000-byte frames (a keyframe every 50), and 50 audio packets a
 * second of 250 bytes, from `from` until before `until`; RTMP timestamps count from START.
 */
function feed(stats: MediaStats, from: number, until: number): void {
  for (let t = from; t < until; t += 20) {
    if ((t - START) % 40 === 0) stats.onMedia(true, t - START, VIDEO_BYTES, (t - START) % 2_000 === 0, t);
    stats.onMedia(false, t - START, AUDIO_BYTES, false, t);
  }
}

describe("MediaStats", () => {
  it("has a five-second window", () => {
    expect(STATS_WINDOW_S).toBe(5);
  });

  it("reports zeros and nulls before any media", () => {
    expect(new MediaStats(START).snapshot(START)).toEqual({
      video_packets: 0,
      audio_packets: 0,
      video_bytes: 0,
      audio_bytes: 0,
      total_bytes: 0,
      keyframes: 0,
      keyframe_interval_ms: null,
      bitrate_kbps: 0,
      avg_bitrate_kbps: 0,
      fps: 0,
      first_timestamp: null,
      last_timestamp: null,
      duration_s: 0,
      video: null,
      audio: null,
    });
  });

  it("counts ten seconds of a steady stream exactly", () => {
    const stats = new MediaStats(START);
    feed(stats, START, START + 10_000);
    // 250 frames and 500 audio packets; the window is seconds 16..20 of the clock, of which 16..19 are full.
    expect(stats.snapshot(START + 10_000)).toMatchObject({
      video_packets: 250,
      audio_packets: 500,
      video_bytes: 1_250_000,
      audio_bytes: 125_000,
      total_bytes: 1_375_000,
      keyframes: 5,
      keyframe_interval_ms: 2_000,
      bitrate_kbps: 1_100, // 4 × 137 500 bytes × 8 / 4000 ms
      avg_bitrate_kbps: 1_100, // 1 375 000 × 8 / 10 000 ms
      fps: 25,
      first_timestamp: 0,
      last_timestamp: 9_980,
      duration_s: 10,
    });
  });

  it("measures the keyframe interval across the 32-bit wrap, ignoring a clock jump", () => {
    const stats = new MediaStats(START);
    stats.onMedia(true, 0xffff_fc18, 100, true, START); // 1000 ms before the wrap
    stats.onMedia(true, 500, 100, true, START + 1500);
    expect(stats.snapshot(START + 1500).keyframe_interval_ms).toBe(1_500);
    stats.onMedia(true, 500 + 90_000, 100, true, START + 2000);
    expect(stats.snapshot(START + 2000).keyframe_interval_ms).toBe(1_500);
    stats.onMedia(true, 500 + 92_000, 100, true, START + 4000);
    expect(stats.snapshot(START + 4000).keyframe_interval_ms).toBe(2_000);
  });

  it("includes the current partial second in the window, over the time it really spans", () => {
    const stats = new MediaStats(START);
    feed(stats, START, START + 10_500);
    const s = stats.snapshot(START + 10_500);
    // Seconds 16..19 (550 000 bytes, 100 frames) plus 20.0–20.5 (13 frames, 25 audio: 71 250 bytes) over 4.5 s.
    expect(s.bitrate_kbps).toBe(1_104); // 621 250 × 8 / 4500 = 1104.4
    expect(s.fps).toBe(25.11); // 113 / 4.5
    expect(s.avg_bitrate_kbps).toBe(1_102); // (263 frames, 525 audio packets) 1 446 250 × 8 / 10 500
  });

  it("measures the window from the first media message when the stream is younger than the window", () => {
    const stats = new MediaStats(START);
    feed(stats, START + 100, START + 600);
    const s = stats.snapshot(START + 600);
    // 12 frames (at +120 … +560) and 25 audio packets: 66 250 bytes in the 500 ms since the first message.
    expect(s.bitrate_kbps).toBe(1_060); // 66 250 × 8 / 500
    expect(s.fps).toBe(24); // 12 / 0.5
    expect(s.avg_bitrate_kbps).toBe(883); // 66 250 × 8 / 600 since the publication started
    expect(s.first_timestamp).toBe(100);
    expect(s.duration_s).toBe(0.6);
  });

  it("drops to zero current bitrate once the publisher has been silent for the whole window", () => {
    const stats = new MediaStats(START);
    feed(stats, START, START + 2_000);
    // At 15.999 s the window (seconds 11..15) still holds second 11: 137 500 bytes over 4999 ms.
    expect(stats.snapshot(START + 5_999).bitrate_kbps).toBe(220);
    const later = stats.snapshot(START + 6_000);
    expect(later.bitrate_kbps).toBe(0);
    expect(later.fps).toBe(0);
    expect(later.avg_bitrate_kbps).toBe(367); // 275 000 × 8 / 6000 ms
    expect(later.last_timestamp).toBe(1_980);
  });

  it("reuses a bucket for a new second instead of adding to an old one", () => {
    const stats = new MediaStats(0);
    stats.onMedia(true, 0, 1_000, true, 500); // second 0, slot 0
    stats.onMedia(true, 5_000, 3_000, false, 5_500); // second 5, also slot 0
    const s = stats.snapshot(6_000);
    // Window: seconds 2..6; only the second message is in it, over 6000 - 2000 ms.
    expect(s.bitrate_kbps).toBe(6); // 3000 × 8 / 4000
    expect(s.total_bytes).toBe(4_000);
  });

  it("reports the codec details it is given, in the snapshot's snake_case", () => {
    const stats = new MediaStats(START);
    stats.setVideo({ codec: "H264", profile: "High", level: "4.0", width: 1920, height: 1080, bitDepth: 8 });
    stats.setAudio({ codec: "Opus", sampleRate: 48_000, channels: 2 });
    const s = stats.snapshot(START);
    expect(s.video).toEqual({
      codec: "H264",
      profile: "High",
      level: "4.0",
      width: 1920,
      height: 1080,
      bit_depth: 8,
      chroma: null,
    });
    expect(s.audio).toEqual({ codec: "Opus", profile: null, sample_rate: 48_000, channels: 2 });
    stats.setVideo({ codec: "VP9", profile: "Profile 0" });
    expect(stats.snapshot(START).video).toEqual({
      codec: "VP9",
      profile: "Profile 0",
      level: null,
      width: null,
      height: null,
      bit_depth: null,
      chroma: null,
    });
  });

  it("produces a snapshot that survives JSON unchanged", () => {
    const stats = new MediaStats(START);
    feed(stats, START, START + 1_000);
    stats.setAudio({ codec: "AAC", profile: "LC", sampleRate: 44_100, channels: 2 });
    const s = stats.snapshot(START + 1_000);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});
