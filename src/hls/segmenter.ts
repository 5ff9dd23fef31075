/**
 * One stream's HLS segmenter: a state machine fed the stream's frames, with no I/O and no clock (each frame
 * comes with the wall-clock time it arrived). It cuts them into parts of about hls.part, each one fMP4
 * fragment (moof + mdat) carrying every track and published the moment it is complete, and groups parts into
 * segments that begin on a video keyframe (any frame without video) and last at least hls.segment. A
 * segment is its parts: once complete, one Blob whose slices are its parts' bodies, the only copy, which every
 * response sends as it is. It lists hls.window segments and keeps the last RETIRED_SEGMENTS that left the list
 * a while longer, all within a byte bound.
 */
import type { Frame } from "../media/frame.ts";
import { fragment } from "../media/fmp4/fragment.ts";
import { initSegment } from "../media/fmp4/init.ts";
import { sampleOf, trackConfig, type TrackConfig } from "../media/fmp4/track.ts";
import { type QueuedSample, TrackQueue, gathered } from "../media/fmp4/track-queue.ts";
import { MessageType } from "../protocol/message.ts";
import { Timeline } from "./timeline.ts";
import { sameBytes } from "../protocol/bytes.ts";

/**
 * Segments no longer listed but still served: a player that read the playlist just before one left may still
 * ask for it (RFC 8216bis 6.2.2 wants a removed segment available for a playlist's duration more; players
 * start near the live edge, so a few suffice).
 */
export const RETIRED_SEGMENTS = 3;
/** Bytes of segments one muxer keeps: past it the oldest go first, whatever hls.window says. */
export const MAX_WINDOW_BYTES = 64 * 1024 * 1024;
/** A segment this large ends at its next part, keyframe or not (a stream whose keyframes never come). */
export const MAX_SEGMENT_BYTES = 32 * 1024 * 1024;
/** Sample bytes (or samples) a part may gather before it ends early (a video track that stopped, audio going on). */
const MAX_PART_BYTES = 8 * 1024 * 1024;
const MAX_PART_SAMPLES = 2_000;

export interface SegmenterSettings {
  /** hls.segment: the least a segment lasts (it ends at the first keyframe after). */
  segmentMs: number;
  /** hls.part: a part ends once it lasts this long. */
  partMs: number;
  /** hls.window: complete segments listed. */
  window: number;
  /** The stream's keyframe interval so far (ms, 0 unknown): segments end on keyframes, so it sets their length. */
  keyframeIntervalMs?: number;
}

/** Where a muxer's numbering starts (a new muxer of a stream goes on where the previous one stopped). */
export interface SequenceStart {
  msn: number;
  discontinuity: number;
}

export interface InitSection {
  readonly id: number;
  readonly body: Blob;
  /** It has a video track (else audio only). */
  readonly video: boolean;
}

export interface Part {
  /** Counted over the whole muxer: the part's name, and its fragment's sequence number minus 1. */
  readonly index: number;
  /** The fragment's bytes (a Blob: a response sends it without a copy); a slice of its segment's once that is complete. */
  body: Blob;
  readonly durationMs: number;
  /** It starts with a keyframe (every part of an audio-only stream does). */
  readonly independent: boolean;
}

export class Segment {
  readonly parts: Part[] = [];
  bytes = 0;
  durationMs = 0;
  /** Its parts' bytes in one, once complete (null while open). */
  body: Blob | null = null;

  constructor(
    /** Media sequence number. */
    readonly msn: number,
    readonly init: InitSection,
    /** The first segment after a republish or a codec change. */
    readonly discontinuity: boolean,
    /** Discontinuity sequence number: how many discontinuities came before it, this one included. */
    readonly discontinuityNumber: number,
    /** Unix ms when its first frame arrived: EXT-X-PROGRAM-DATE-TIME. */
    readonly programDateTime: number,
    /** Timeline ms of its start. */
    readonly startMs: number,
  ) {}
}

/** Until a sample gives one, a last sample lasts 1/25 s (video), an AAC frame, or a 20 ms Opus frame. */
function firstDuration(config: TrackConfig): number {
  return config.kind === "video" ? config.timescale / 25 : config.codec === "mp4a" ? 1024 : config.timescale / 50;
}

/**
 * EXT-X-TARGETDURATION must not change (RFC 8216bis 4.4.3.1), so it starts at what the stream's segments will
 * last: the first keyframe at or past hls.segment ends a segment, a whole number of keyframe intervals.
 */
function initialTargetDuration({ segmentMs, keyframeIntervalMs = 0 }: SegmenterSettings): number {
  const expectedMs = keyframeIntervalMs > 0 ? keyframeIntervalMs * Math.ceil(segmentMs / keyframeIntervalMs) : segmentMs;
  return Math.max(1, Math.ceil(segmentMs / 1000), Math.round(expectedMs / 1000));
}

export class Segmenter {
  /** Complete segments listed, oldest first. */
  readonly segments: Segment[] = [];
  /** Complete segments that left the list, still served, oldest first. */
  private readonly retired: Segment[] = [];
  /** The segment being filled (its parts are published already), or null. */
  open: Segment | null = null;
  /** EXT-X-TARGETDURATION: whole seconds no segment exceeds once rounded; it never goes down. */
  targetDuration: number;
  /** PART-TARGET in ms: no part is longer; it never goes down. */
  partTargetMs: number;
  nextPartIndex = 0;
  private nextMsn: number;
  private discontinuityNumber: number;
  private readonly timeline = new Timeline();
  private headers: { video: Uint8Array | null; audio: Uint8Array | null } = { video: null, audio: null };
  private video: TrackQueue | null = null;
  private audio: TrackQueue | null = null;
  /** Both, leading first (video when there is any). */
  private tracks: TrackQueue[] = [];
  /** When the leading track's held sample arrived (Unix ms): a segment it opens started then. */
  private heldArrival = 0;
  /** The tracks with a sample in the open segment. */
  private readonly openTracks = new Set<TrackQueue>();
  private settled = false;
  private init: InitSection | null = null;
  private nextInitId = 0;
  /** The next segment follows a republish or a codec change. */
  private pendingDiscontinuity = false;
  /** The open segment continues a cut one: it ends at the first keyframe, however short. */
  private resync = false;
  private partStartMs = 0;
  /** The end (timeline ms) of everything placed so far. */
  private endMs = 0;

  constructor(
    private readonly settings: SegmenterSettings,
    start: SequenceStart,
    /** A part or a segment was published. */
    private readonly onPublish: () => void,
  ) {
    this.nextMsn = start.msn;
    this.discontinuityNumber = start.discontinuity;
    this.targetDuration = initialTargetDuration(settings);
    this.partTargetMs = settings.partMs;
  }

  /** EXT-X-MEDIA-SEQUENCE: the first listed segment's number. */
  get mediaSequence(): number {
    return this.segments[0]?.msn ?? this.open?.msn ?? this.nextMsn;
  }

  /** EXT-X-DISCONTINUITY-SEQUENCE: discontinuities before the first listed segment. */
  get discontinuitySequence(): number {
    const first = this.segments[0] ?? this.open;
    if (first === undefined || first === null) return this.discontinuityNumber;
    return first.discontinuityNumber - (first.discontinuity ? 1 : 0);
  }

  /** Where a later muxer of the same stream goes on: never a number this one has used. */
  get sequenceEnd(): SequenceStart {
    return { msn: this.nextMsn, discontinuity: this.discontinuityNumber + 1 };
  }

  /** Bytes of the segments kept and of the open one's parts. */
  get bytes(): number {
    let n = this.open?.bytes ?? 0;
    for (const segment of this.retired) n += segment.bytes;
    for (const segment of this.segments) n += segment.bytes;
    return n;
  }

  /** The latest tracks include video. */
  get hasVideo(): boolean {
    return this.init?.video ?? false;
  }

  /** The open segment has a sample of every track: cut now, it is a segment with all of them. */
  get openHasEveryTrack(): boolean {
    return this.open !== null && this.openTracks.size === this.tracks.length;
  }

  /** A complete segment still served (listed or retired). */
  segment(msn: number): Segment | undefined {
    return this.retired.find((s) => s.msn === msn) ?? this.segments.find((s) => s.msn === msn);
  }

  part(index: number): Part | undefined {
    return partOf(this.open, index) ?? partIn(this.segments, index) ?? partIn(this.retired, index);
  }

  initSection(id: number): InitSection | undefined {
    if (this.init?.id === id) return this.init;
    return [...this.retired, ...this.segments, this.open].find((s) => s?.init.id === id)?.init;
  }

  /** Every frame of the stream, in order; `arrival` is when it reached the server (Unix ms). */
  frame(frame: Frame, arrival: number): void {
    if (frame.type !== MessageType.Video && frame.type !== MessageType.Audio) return;
    if (frame.header) return this.header(frame);
    const sample = sampleOf(frame.type, frame.payload);
    if (sample === null) return;
    if (!this.settled && !this.settle(frame)) return;
    const track = frame.video ? this.video : this.audio;
    if (track === null) return;
    const held = track.push(frame, sample, this.timeline.unwrap(frame.timestamp));
    const leading = track === this.tracks[0];
    if (leading) {
      this.heldArrival = arrival;
      // The first sample since the tracks settled (a keyframe, or any frame without video) opens the first
      // segment at once: every sample of any track after it has a segment to go in.
      if (this.open === null) this.openSegment(track.held!.ms, arrival);
    }
    if (held === null) return;
    this.place(track, held);
    if (leading) this.boundary(track.held!);
    const part = gathered(this.tracks);
    if (part.bytes > MAX_PART_BYTES || part.samples > MAX_PART_SAMPLES) this.closePart(this.endMs);
    if (this.open!.bytes > MAX_SEGMENT_BYTES) {
      this.closePart(this.endMs);
      this.closeSegment(true);
    }
  }

  /**
   * End the open segment now, its samples so far its last part: how a muxer lists a first segment without
   * waiting for a whole one. The samples held (their durations not known yet) begin the next segment, which
   * goes straight on, keyframe or not, and ends at the next keyframe. Nothing happens while it has no sample.
   */
  cut(): void {
    const segment = this.open;
    if (segment === null) return;
    this.closePart(this.tracks[0].held?.ms ?? this.endMs);
    if (segment.parts.length > 0) this.closeSegment(true);
  }

  /** The publication ended: what is open is published, and the next frames start a new one (a discontinuity). */
  end(): void {
    this.finish();
    this.reset();
    this.headers = { video: null, audio: null };
    this.timeline.restart(this.endMs);
  }

  /** The muxer stops: let go of every frame still held. */
  close(): void {
    this.reset();
  }

  /** Sequence headers: the first ones define the tracks; a different one later is a codec change. */
  private header(frame: Frame): void {
    const kind = frame.video ? "video" : "audio";
    const previous = this.headers[kind];
    if (previous !== null && sameBytes(previous, frame.payload)) return;
    this.headers[kind] = frame.payload;
    if (!this.settled) return;
    this.finish();
    this.reset();
  }

  /**
   * The tracks, from the sequence headers, at the first frame a segment can start with (a video keyframe,
   * whose picture gives a size the record may lack; any audio frame without video). False: not yet.
   */
  private settle(frame: Frame): boolean {
    const keyframe = frame.video && frame.keyframe ? frame.payload : undefined;
    const video = this.headers.video === null ? null : trackConfig("video", this.headers.video, 1, keyframe);
    if (video !== null && keyframe === undefined) return false;
    const audio = this.headers.audio === null ? null : trackConfig("audio", this.headers.audio, video === null ? 1 : 2);
    if (video === null && audio === null) return false;
    this.video = video === null ? null : new TrackQueue(video, firstDuration(video));
    this.audio = audio === null ? null : new TrackQueue(audio, firstDuration(audio));
    this.tracks = [this.video, this.audio].filter((t) => t !== null);
    const body = new Blob([initSegment([video, audio].filter((t) => t !== null))]);
    this.init = { id: this.nextInitId++, body, video: video !== null };
    this.settled = true;
    return true;
  }

  /** The tracks end: held samples get their track's last duration, and the open part and segment are published. */
  private finish(): void {
    for (const track of this.tracks) {
      const held = track.flush();
      if (held !== null) this.place(track, held);
    }
    this.closePart(this.endMs);
    this.closeSegment(false);
  }

  /** Forget the tracks and what they hold; the next segment is a discontinuity and starts on a keyframe. */
  private reset(): void {
    for (const track of this.tracks) track.close();
    this.video = this.audio = null;
    this.tracks = [];
    this.settled = false;
    this.resync = false;
    if (this.segments.length > 0 || this.open !== null) this.pendingDiscontinuity = true;
  }

  /**
   * Add a sample push() or flush() gave back to the open part. A segment is open: the first one opened at the
   * first sample that settled the tracks, and each later one opens as the one before closes.
   */
  private place(track: TrackQueue, held: QueuedSample): void {
    track.gather(held);
    this.openTracks.add(track);
    this.endMs = Math.max(this.endMs, held.ms + (held.duration * 1000) / track.config.timescale);
  }

  /**
   * After a sample of the leading track: does the part, or the segment, end before `next`, the one it holds now?
   * A segment that ends opens the next at once, at `next`, so that the other tracks' samples that come before
   * `next` is placed go in it.
   */
  private boundary(next: QueuedSample): void {
    const segment = this.open!;
    const startsSegment = this.video === null || next.sync;
    if (startsSegment && (this.resync || next.ms - segment.startMs >= this.settings.segmentMs)) {
      this.closePart(next.ms);
      this.closeSegment(false);
      this.openSegment(next.ms, this.heldArrival);
    } else if (next.ms - this.partStartMs >= this.settings.partMs) {
      this.closePart(next.ms);
    }
  }

  private openSegment(startMs: number, arrival: number): void {
    this.openTracks.clear();
    if (this.pendingDiscontinuity) this.discontinuityNumber++;
    this.open = new Segment(this.nextMsn++, this.init!, this.pendingDiscontinuity, this.discontinuityNumber, arrival, startMs);
    this.pendingDiscontinuity = false;
    this.partStartMs = startMs;
  }

  /** Publish the open part (one fragment of every track's run), ending at `endMs`. */
  private closePart(endMs: number): void {
    const segment = this.open;
    const tracks = this.tracks;
    if (segment === null || gathered(tracks).samples === 0) return;
    const index = this.nextPartIndex++;
    const bytes = fragment(index + 1, tracks);
    const independent = tracks[0].samples[0]?.sync === true;
    for (const track of tracks) track.releaseRun();
    const durationMs = Math.max(0, endMs - this.partStartMs);
    segment.parts.push({ index, body: new Blob([bytes]), durationMs, independent });
    segment.bytes += bytes.length;
    segment.durationMs = endMs - segment.startMs;
    this.partTargetMs = Math.max(this.partTargetMs, Math.ceil(durationMs));
    this.partStartMs = endMs;
    this.onPublish();
  }

  /** The open segment is complete (its last part published); with `resume` the next one starts at its end. */
  private closeSegment(resume: boolean): void {
    const segment = this.open;
    if (segment === null) return;
    this.open = null;
    if (segment.parts.length === 0) {
      // Opened and ended before a sample came: its number is not used, so none is skipped.
      this.nextMsn = segment.msn;
      if (segment.discontinuity) {
        this.discontinuityNumber--;
        this.pendingDiscontinuity = true;
      }
      return;
    }
    // One store for the whole segment, its parts views of it: what the parts held alone is let go.
    const body = new Blob(segment.parts.map((p) => p.body));
    let at = 0;
    for (const part of segment.parts) part.body = body.slice(at, (at += part.body.size));
    segment.body = body;
    this.segments.push(segment);
    this.targetDuration = Math.max(this.targetDuration, Math.round(segment.durationMs / 1000));
    this.resync = resume;
    if (resume) this.openSegment(this.partStartMs, segment.programDateTime + segment.durationMs);
    while (this.segments.length > this.settings.window) this.retired.push(this.segments.shift()!);
    if (this.retired.length > RETIRED_SEGMENTS) this.retired.shift();
    let bytes = this.bytes;
    while (bytes > MAX_WINDOW_BYTES && this.retired.length > 0) bytes -= this.retired.shift()!.bytes;
    while (bytes > MAX_WINDOW_BYTES && this.segments.length > 1) bytes -= this.segments.shift()!.bytes;
    this.onPublish();
  }
}

function partIn(segments: readonly Segment[], index: number): Part | undefined {
  for (let i = segments.length - 1; i >= 0; i--) {
    const part = partOf(segments[i], index);
    if (part !== undefined) return part;
  }
  return undefined;
}

/** Part `index` of the whole muxer, if `segment` has it: parts are numbered on across segments. */
function partOf(segment: Segment | null, index: number): Part | undefined {
  const first = segment?.parts[0];
  return first === undefined ? undefined : segment!.parts[index - first.index];
}
