/**
 * Per-publication media statistics: packet and byte counters, and a ring of per-second buckets for the current
 * bitrate and frame rate over a sliding window. onMedia runs for every media message and allocates nothing;
 * snapshot() builds the plain object the `media stats` log line, publish_stop, the HTTP API and /metrics read.
 */
import type { AudioDetails, VideoDetails } from "./codec-details.ts";

/** Seconds covered by the current bitrate and frame rate (the bucket ring holds one per second). */
export const STATS_WINDOW_S = 5;

export interface VideoSnapshot {
  codec: string;
  profile: string | null;
  level: string | null;
  width: number | null;
  height: number | null;
  bit_depth: number | null;
  chroma: string | null;
}

export interface AudioSnapshot {
  codec: string;
  profile: string | null;
  sample_rate: number | null;
  channels: number | null;
}

export interface StatsSnapshot {
  video_packets: number;
  audio_packets: number;
  video_bytes: number;
  audio_bytes: number;
  total_bytes: number;
  keyframes: number;
  /** RTMP time between the last two video keyframes (ms); null before two. */
  keyframe_interval_ms: number | null;
  /** Over the last STATS_WINDOW_S seconds (less right after the start), kbit/s rounded. */
  bitrate_kbps: number;
  /** Since the publication started, kbit/s rounded. */
  avg_bitrate_kbps: number;
  /** Video frames per second over the same window, two decimals. */
  fps: number;
  /** RTMP timestamps (ms) of the first and the latest media message; null before any. */
  first_timestamp: number | null;
  last_timestamp: number | null;
  /** Seconds since the publication started. */
  duration_s: number;
  video: VideoSnapshot | null;
  audio: AudioSnapshot | null;
}

/** Longer between keyframes than this is a publisher's clock jump or a pause, not its GOP. */
const MAX_KEYFRAME_INTERVAL_MS = 60_000;

export class MediaStats {
  private videoPackets = 0;
  private audioPackets = 0;
  private videoBytes = 0;
  private audioBytes = 0;
  private keyframes = 0;
  private lastKeyframeTimestamp = -1;
  private keyframeIntervalMs = -1;
  private firstTimestamp = -1;
  private lastTimestamp = -1;
  /** When the first media message arrived (ms, the caller's clock); -1 before any. */
  private firstMediaAt = -1;
  /** Per-second buckets, indexed by second % STATS_WINDOW_S; `bucketSecond` says which second each holds. */
  private readonly bucketSecond = new Float64Array(STATS_WINDOW_S).fill(-Infinity);
  private readonly bucketBytes = new Float64Array(STATS_WINDOW_S);
  private readonly bucketFrames = new Float64Array(STATS_WINDOW_S);
  private video: VideoDetails | null = null;
  private audio: AudioDetails | null = null;

  /** `nowMs`: when the publication started, on the clock every later call uses (e.g. performance.now()). */
  constructor(private readonly startedAt: number) {}

  /** Counts one media message: `bytes` of payload, RTMP `timestamp`, arriving at `nowMs`. */
  onMedia(video: boolean, timestamp: number, bytes: number, keyframe: boolean, nowMs: number): void {
    if (video) {
      this.videoPackets += 1;
      this.videoBytes += bytes;
      if (keyframe) this.onKeyframe(timestamp);
    } else {
      this.audioPackets += 1;
      this.audioBytes += bytes;
    }
    if (this.firstMediaAt < 0) {
      this.firstMediaAt = nowMs;
      this.firstTimestamp = timestamp;
    }
    this.lastTimestamp = timestamp;
    const second = Math.floor(nowMs / 1000);
    const slot = ((second % STATS_WINDOW_S) + STATS_WINDOW_S) % STATS_WINDOW_S;
    if (this.bucketSecond[slot] !== second) {
      this.bucketSecond[slot] = second;
      this.bucketBytes[slot] = 0;
      this.bucketFrames[slot] = 0;
    }
    this.bucketBytes[slot] += bytes;
    if (video) this.bucketFrames[slot] += 1;
  }

  private onKeyframe(timestamp: number): void {
    this.keyframes += 1;
    // 32-bit RTMP time wraps; a gap past MAX_KEYFRAME_INTERVAL_MS is a clock jump, not a GOP.
    const interval = (timestamp - this.lastKeyframeTimestamp) >>> 0;
    if (this.lastKeyframeTimestamp >= 0 && interval > 0 && interval <= MAX_KEYFRAME_INTERVAL_MS) this.keyframeIntervalMs = interval;
    this.lastKeyframeTimestamp = timestamp;
  }

  setVideo(details: VideoDetails): void {
    this.video = details;
  }

  setAudio(details: AudioDetails): void {
    this.audio = details;
  }

  snapshot(nowMs: number): StatsSnapshot {
    const window = this.window(nowMs);
    const elapsedMs = nowMs - this.startedAt;
    const totalBytes = this.videoBytes + this.audioBytes;
    return {
      video_packets: this.videoPackets,
      audio_packets: this.audioPackets,
      video_bytes: this.videoBytes,
      audio_bytes: this.audioBytes,
      total_bytes: totalBytes,
      keyframes: this.keyframes,
      keyframe_interval_ms: this.keyframeIntervalMs < 0 ? null : this.keyframeIntervalMs,
      bitrate_kbps: window.ms > 0 ? Math.round((window.bytes * 8) / window.ms) : 0,
      avg_bitrate_kbps: elapsedMs > 0 ? Math.round((totalBytes * 8) / elapsedMs) : 0,
      fps: window.ms > 0 ? Math.round((window.frames * 100_000) / window.ms) / 100 : 0,
      first_timestamp: this.firstMediaAt < 0 ? null : this.firstTimestamp,
      last_timestamp: this.firstMediaAt < 0 ? null : this.lastTimestamp,
      duration_s: elapsedMs / 1000,
      video: this.video === null ? null : videoSnapshot(this.video),
      audio: this.audio === null ? null : audioSnapshot(this.audio),
    };
  }

  /**
   * Bytes and frames of the buckets for this second and the STATS_WINDOW_S - 1 before it, and the time they
   * span: from the start of the oldest of those seconds (or the first media message, if later) until now.
   */
  private window(nowMs: number): { bytes: number; frames: number; ms: number } {
    const second = Math.floor(nowMs / 1000);
    const oldest = second - STATS_WINDOW_S + 1;
    let bytes = 0;
    let frames = 0;
    for (let i = 0; i < STATS_WINDOW_S; i++) {
      const s = this.bucketSecond[i];
      if (s < oldest || s > second) continue;
      bytes += this.bucketBytes[i];
      frames += this.bucketFrames[i];
    }
    const from = this.firstMediaAt < 0 ? nowMs : Math.max(oldest * 1000, this.firstMediaAt);
    return { bytes, frames, ms: nowMs - from };
  }
}

function videoSnapshot(d: VideoDetails): VideoSnapshot {
  return {
    codec: d.codec,
    profile: d.profile ?? null,
    level: d.level ?? null,
    width: d.width ?? null,
    height: d.height ?? null,
    bit_depth: d.bitDepth ?? null,
    chroma: d.chroma ?? null,
  };
}

function audioSnapshot(d: AudioDetails): AudioSnapshot {
  return {
    codec: d.codec,
    profile: d.profile ?? null,
    sample_rate: d.sampleRate ?? null,
    channels: d.channels ?? null,
  };
}
