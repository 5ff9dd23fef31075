/**
 * The frames since the last keyframe, so that a late joiner's first video frame is a keyframe and its
 * picture starts at once. Bounded in bytes: past the bound it holds nothing until the next keyframe. It
 * holds a reference on every frame it keeps, and gives it back when the frame leaves the cache.
 *
 * It also keeps the audio of the half second before that keyframe. With B-frames the keyframe's decode
 * time comes before its presentation time, and a joiner whose audio starts between the two gets a stream
 * whose start time (the earliest presentation time, as libavformat computes it) is later than the first
 * video decode time; VLC then takes that frame's timestamp as invalid and its timeline breaks (observed:
 * a jump of the system uptime after the first frame, or "packet with too strange dts" when remuxing). Audio
 * that starts earlier than the keyframe, as it does for a player that joins before a keyframe, avoids it.
 *
 * That audio is copied next to the new keyframe rather than kept where it was: its old slabs are shared
 * with the last half second of the previous GOP's video, which a reference to a few hundred bytes of audio
 * would keep alive for a whole GOP more (about a quarter more memory per stream with a 2 s GOP).
 */
import type { Frame, FrameArena } from "../media/frame.ts";

/** Audio kept from before the current keyframe: more than any B-frame reordering delay. */
const AUDIO_LEAD_MS = 500;

export class GopCache {
  private items: Frame[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get frames(): readonly Frame[] {
    return this.items;
  }

  /** Keeps `frame` if a joiner needs it; `arena` is where the frame came from, for the audio lead's copies. */
  add(frame: Frame, arena: FrameArena): void {
    if (frame.video && frame.keyframe) {
      const lead = this.items
        .filter((f) => !f.video && ((frame.timestamp - f.timestamp) >>> 0) <= AUDIO_LEAD_MS)
        .map((f) => arena.copy(f));
      this.clear();
      lead.push(frame.retain());
      this.items = lead;
      this.bytes = lead.reduce((n, f) => n + f.payload.length, 0);
      return;
    }
    // Nothing before the first keyframe is useful to a joiner.
    if (this.items.length === 0) return;
    if (this.bytes + frame.payload.length > this.maxBytes) {
      this.clear();
      return;
    }
    this.items.push(frame.retain());
    this.bytes += frame.payload.length;
  }

  clear(): void {
    for (const frame of this.items) frame.release();
    this.items = [];
    this.bytes = 0;
  }
}
