/**
 * One recorded fragmented MP4 file: ftyp and moov for the tracks the stream has when the file opens, a free
 * box holding room for a sidx per track, then fragments (Mp4Fragmenter), each appended as one write of its own,
 * so the file plays while it is written and, after a crash, up to its last whole fragment. Finishing writes the
 * last fragment and an mfra, then writes the sidxs over the free box: with them a reader finds any time without
 * reading every moof (FFmpeg goes by the sidx, mediabunny and others by the mfra). A sequence header that changes a track
 * outdates the file: the track takes no more samples, and the recording starts a new file where one may.
 */
import { initSegment } from "../media/fmp4/init.ts";
import {
  type SegmentIndex,
  type SegmentReference,
  type TrackRandomAccess,
  fragmentRandomAccess,
  freeBox,
  segmentIndex,
  segmentIndexSize,
} from "../media/fmp4/random-access.ts";
import { type TrackConfig, sampleOf, trackConfig } from "../media/fmp4/track.ts";
import type { Frame } from "../media/frame.ts";
import { MessageType } from "../protocol/message.ts";
import type { Patch } from "./batch-writer.ts";
import type { CreatedFile } from "./file-name.ts";
import { KeyframeIndex } from "./keyframe-index.ts";
import { Mp4Fragmenter, type RunStart } from "./mp4-fragmenter.ts";
import { type FileListener, type FileSettings, type FileStart, RecordingFile } from "./recording-file.ts";
import { sameBytes } from "../protocol/bytes.ts";

type Kind = "audio" | "video";

/** A fragment a reader may start at: where its moof is, and how each of its runs starts. */
interface IndexedFragment {
  position: number;
  runs: readonly RunStart[];
}

/** sidx reference sizes are 31 bits, durations 32. */
const MAX_REFERENCE_SIZE = 2 ** 31 - 1;
const MAX_REFERENCE_DURATION = 2 ** 32 - 1;

/** The tracks a file starting from `start` has: video first (track 1), then audio; none MP4 does not carry. */
export function mp4Tracks(start: FileStart): TrackConfig[] {
  const tracks: TrackConfig[] = [];
  const video = start.headers.find((h) => h.video);
  const audio = start.headers.find((h) => !h.video);
  // VP9 (and an AV1 record without its sequence header) gives the picture size only in a keyframe.
  const keyframe = start.first.video && start.first.keyframe ? start.first.payload : undefined;
  const videoTrack = video === undefined ? null : trackConfig("video", video.payload, 1, keyframe);
  if (videoTrack !== null) tracks.push(videoTrack);
  const audioTrack = audio === undefined ? null : trackConfig("audio", audio.payload, tracks.length + 1);
  if (audioTrack !== null) tracks.push(audioTrack);
  return tracks;
}

export class Mp4File extends RecordingFile {
  private readonly tracks: readonly TrackConfig[];
  /** The track whose sync samples make a fragment a place to start (indexed): video when there is any. */
  private readonly reference: TrackConfig;
  /** The sequence header of each kind the file started with (its track's, or one MP4 does not carry). */
  private readonly headers: Record<Kind, Uint8Array | null> = { audio: null, video: null };
  /** Kinds whose sequence header changed since: their frames are left to the next file. */
  private readonly changed = new Set<Kind>();
  private readonly leftOut = new Set<Kind>();
  private readonly fragmenter: Mp4Fragmenter;
  private readonly index: KeyframeIndex<IndexedFragment>;
  /** Where the free box reserved for the sidxs starts, and its size. */
  private readonly indexPosition: number;
  private readonly indexRoom: number;

  constructor(created: Promise<CreatedFile>, intendedPath: string, start: FileStart, settings: FileSettings, listener: FileListener) {
    super(created, intendedPath, settings, listener);
    this.tracks = mp4Tracks(start);
    if (this.tracks.length === 0) throw new Error("an MP4 recording needs a track (see mp4Tracks)");
    this.reference = this.tracks[0];
    for (const header of start.headers) this.headers[header.video ? "video" : "audio"] = header.payload;
    this.index = new KeyframeIndex(settings.indexCapacity);
    this.fragmenter = new Mp4Fragmenter(this.tracks, (bytes, runs) => this.fragmentDone(bytes, runs));
    const init = initSegment(this.tracks);
    this.indexPosition = init.length;
    this.indexRoom = this.tracks.length * segmentIndexSize(settings.indexCapacity);
    this.writer.append(init);
    this.writer.append(freeBox(this.indexRoom));
  }

  override get outdated(): boolean {
    return this.changed.size > 0;
  }

  media(frame: Frame): void {
    const kind = frame.video ? "video" : "audio";
    const track = this.tracks.find((t) => t.kind === kind);
    if (track === undefined || this.changed.has(kind)) {
      if (track === undefined) this.leaveOut(kind, frame);
      return;
    }
    this.fragmenter.add(track, frame, this.stamp(frame));
  }

  /** A sequence header other than the file's outdates the file; MP4 has no place for timed data. */
  extra(frame: Frame): void {
    if (frame.type === MessageType.DataAmf0) return;
    const kind = frame.video ? "video" : "audio";
    const header = this.headers[kind];
    if (header === null || !sameBytes(header, frame.payload)) this.changed.add(kind);
  }

  /** The last fragment and the mfra, then the sidxs over the room reserved for them. */
  protected finalize(): Patch[] {
    this.fragmenter.flush();
    return this.index.length > 0 ? [this.randomAccessIndexes()] : [];
  }

  protected override report(error: Error | null): void {
    // A failed or abandoned file holds no frame back.
    if (error !== null) this.fragmenter.discard();
    super.report(error);
  }

  private fragmentDone(bytes: Uint8Array, runs: readonly RunStart[]): void {
    const position = this.writer.position;
    const reference = runs.find((run) => run.trackId === this.reference.id);
    // The first fragment is indexed whatever it starts with (the sidx covers every fragment from it on), and
    // always kept: an empty index means no fragment yet.
    if (this.index.length === 0 || reference?.sync === true) this.index.add({ position, runs });
    this.writer.appendWhole(bytes);
  }

  /** A frame of a kind the file has no track for: reported once when MP4 does not carry its codec. */
  private leaveOut(kind: Kind, frame: Frame): void {
    if (this.leftOut.has(kind)) return;
    // A header the file started with but could not use, or a codec with no header that MP4 cannot hold.
    if (this.headers[kind] === null && sampleOf(frame.type, frame.payload) !== null) return;
    this.leftOut.add(kind);
    this.listener.leftOut(kind);
  }

  /**
   * Appends the mfra; returns what goes over the reserved room: a sidx per track (FFmpeg 5 compares a track
   * without one against another track's times in the wrong timescale, and seeks it to the wrong fragment),
   * then a free box with the rest. No sidx when a reference would not fit its fields.
   */
  private randomAccessIndexes(): Patch {
    const fragments = this.index.entries;
    const end = this.writer.position;
    const points = this.tracks.map((track) => randomAccessOf(track, fragments)).filter((t) => t.points.length > 0);
    this.writer.append(fragmentRandomAccess(points));
    const room = new Uint8Array(this.indexRoom);
    const indexes = this.tracks.map((track) => this.segmentIndexOf(track, fragments, end));
    if (indexes.every((index) => index !== null)) {
      let at = 0;
      for (const index of indexes) {
        const next = at + segmentIndexSize(index.references.length);
        // first_offset: from the end of this sidx to the first moof, over the sidxs after it and the free box.
        room.set(segmentIndex({ ...index, firstOffset: this.indexRoom - next }), at);
        at = next;
      }
      if (at < this.indexRoom) room.set(freeBox(this.indexRoom - at), at);
    } else {
      room.set(freeBox(this.indexRoom));
    }
    return { position: this.indexPosition, bytes: room };
  }

  /**
   * `track`'s sidx: one reference per indexed fragment, to the next one (the last to `end`), timed by the
   * track's run in it (a fragment without one goes on from the time before); null when a reference is too long.
   */
  private segmentIndexOf(
    track: TrackConfig,
    fragments: readonly IndexedFragment[],
    end: number,
  ): Omit<SegmentIndex, "firstOffset"> | null {
    const runOf = (fragment: IndexedFragment) => fragment.runs.find((r) => r.trackId === track.id);
    const times: number[] = [];
    for (const fragment of fragments) times.push(Math.max(times.at(-1) ?? 0, runOf(fragment)?.time ?? 0));
    times.push(Math.max(times.at(-1) ?? 0, this.fragmenter.end(track)));
    const references: SegmentReference[] = [];
    for (let i = 0; i < fragments.length; i++) {
      const size = (fragments[i + 1]?.position ?? end) - fragments[i].position;
      const duration = times[i + 1] - times[i];
      if (size > MAX_REFERENCE_SIZE || duration > MAX_REFERENCE_DURATION) return null;
      references.push({ size, duration, startsWithSap: runOf(fragments[i])?.sync === true });
    }
    return { referenceId: track.id, timescale: track.timescale, earliestPresentationTime: times[0], references };
  }
}

/** The sync samples that open a track's runs in the indexed fragments, with the traf each is in. */
function randomAccessOf(track: TrackConfig, fragments: readonly IndexedFragment[]): TrackRandomAccess {
  const points = [];
  for (const { position, runs } of fragments) {
    const traf = runs.findIndex((run) => run.trackId === track.id);
    if (traf >= 0 && runs[traf].sync) points.push({ time: runs[traf].time, moofOffset: position, trafNumber: traf + 1 });
  }
  return { trackId: track.id, points };
}
