/**
 * One recorded FLV file, complete on its own: the file header, a reserved onMetaData tag, the sequence
 * headers, then media from its first frame with timestamps rebased to start at 0; video only from a
 * keyframe. Finishing rewrites the metadata in place (duration, filesize, keyframe index) and the header's
 * track flags, so nothing is copied; until then the file is a playable FLV at every write.
 */
import type { Frame } from "../media/frame.ts";
import {
  FLV_FILE_HEADER_SIZE,
  FLV_TAG_HEADER_SIZE,
  flvFileHeader,
  writeTagHeader,
  writeU32,
} from "../media/flv.ts";
import { MessageType } from "../protocol/message.ts";
import { BatchWriter, type WriterLimits } from "./batch-writer.ts";
import type { DiskLane } from "./disk-lane.ts";
import type { CreatedFile } from "./file-name.ts";
import { KeyframeIndex } from "./keyframe-index.ts";
import { RecordingMetadata, publisherProperties } from "./metadata-tag.ts";

/** Offset of the header's audio/video flags byte. */
const FLAGS_POSITION = 4;
/** Offset of the onMetaData tag's body: it is the first tag. */
const METADATA_BODY_POSITION = FLV_FILE_HEADER_SIZE + FLV_TAG_HEADER_SIZE;

/** What the file starts with, as the stream has it when the file opens. */
export interface FileStart {
  /** The publisher's onMetaData payload ("onMetaData", {...}). */
  metadata: Uint8Array | null;
  /** Sequence headers, written at time 0. */
  headers: Frame[];
  /** The header's track flags until finish() writes the tracks actually recorded. */
  audio: boolean;
  video: boolean;
}

/** How every file of a Recorder is written. */
export interface FileSettings {
  /** Keyframe index entries the onMetaData tag has room for. */
  readonly indexCapacity: number;
  readonly lane: DiskLane;
  /** Batch writer limits other than the defaults (tests). */
  readonly limits?: Partial<WriterLimits>;
}

export interface FileOutcome {
  path: string;
  /** Bytes in the file (on failure: bytes that reached it). */
  size: number;
  durationMs: number;
  error: Error | null;
}

export interface FlvFileListener {
  opened(path: string): void;
  written(bytes: number): void;
  /** Exactly once: finished, failed (open, write, finalize) or aborted. */
  finished(outcome: FileOutcome): void;
}

/** Tag header and PreviousTagSize of the tag being appended (appending copies them at once). */
const tagHeader = new Uint8Array(FLV_TAG_HEADER_SIZE);
const tagTrailer = new Uint8Array(4);

export class FlvFile {
  private readonly writer: BatchWriter;
  private readonly index: KeyframeIndex;
  private readonly metadata: RecordingMetadata;
  /** Publisher timestamp of the first media frame: file time 0. */
  private base: number | null = null;
  private lastTime = 0;
  private audioWritten = false;
  private videoWritten = false;
  private outcome: FileOutcome | null = null;
  private finishing: Promise<void> | null = null;
  /** The intended path until the file exists, then its real one (a collision adds a suffix). */
  path: string;
  opened = false;
  /** Media frames left out while the disk was behind (counted by the recording, reported at the end). */
  dropped = 0;

  constructor(
    created: Promise<CreatedFile>,
    intendedPath: string,
    start: FileStart,
    settings: FileSettings,
    private readonly listener: FlvFileListener,
  ) {
    this.path = intendedPath;
    this.index = new KeyframeIndex(settings.indexCapacity);
    this.metadata = new RecordingMetadata(publisherProperties(start.metadata), settings.indexCapacity);
    created.then(
      (file) => {
        this.path = file.path;
        this.opened = true;
        if (this.outcome === null) listener.opened(file.path);
      },
      () => {},
    );
    this.writer = new BatchWriter(
      created.then((file) => file.handle),
      { written: (bytes) => listener.written(bytes), failed: (error) => this.report(error) },
      settings.limits,
      settings.lane,
    );
    this.writer.append(flvFileHeader(start.audio, start.video));
    this.appendTag(MessageType.DataAmf0, 0, this.metadataBody());
    for (const header of start.headers) this.appendTag(header.type, 0, header.payload);
  }

  get congested(): boolean {
    return this.writer.congested;
  }

  /** Whether a video frame may be written: the file's video starts at a keyframe. */
  takesVideo(frame: Frame): boolean {
    return this.videoWritten || frame.keyframe;
  }

  /** An audio or video frame (check takesVideo first); the first one is file time 0. */
  media(frame: Frame): void {
    this.base ??= frame.timestamp;
    const time = this.time(frame.timestamp);
    if (time > this.lastTime) this.lastTime = time;
    if (frame.video) {
      if (frame.keyframe) this.index.add(time, this.writer.position);
      this.videoWritten = true;
    } else {
      this.audioWritten = true;
    }
    this.appendTag(frame.type, time, frame.payload);
  }

  /** A sequence header or timed data (cue points, captions) at its place in the file. */
  extra(frame: Frame): void {
    this.appendTag(frame.type, this.time(frame.timestamp), frame.payload);
  }

  /** Writes the rest and the final metadata, then closes. Resolves after the outcome is reported. */
  finish(): Promise<void> {
    this.finishing ??= (async () => {
      const flags = flvFileHeader(this.audioWritten, this.videoWritten).subarray(FLAGS_POSITION, FLAGS_POSITION + 1);
      const size = this.writer.position;
      await this.writer.finish([
        { position: METADATA_BODY_POSITION, bytes: this.metadataBody(size) },
        { position: FLAGS_POSITION, bytes: flags },
      ]);
      this.report(this.writer.failed);
    })();
    return this.finishing;
  }

  /** Stops at once (a shutdown deadline passed): the file keeps what was written, without final metadata. */
  abort(): void {
    this.writer.abort();
    this.report(new Error("the shutdown deadline passed before the file was finalized"));
  }

  /**
   * Publisher time to file time (milliseconds since the file's first frame); a frame stamped just before the
   * first (audio after a keyframe) gets 0.
   */
  time(timestamp: number): number {
    return this.base === null ? 0 : Math.max(0, (timestamp - this.base) | 0);
  }

  private metadataBody(fileSize = 0): Uint8Array {
    return this.metadata.body({ durationMs: this.lastTime, fileSize, times: this.index.times, positions: this.index.positions });
  }

  private appendTag(type: number, time: number, payload: Uint8Array): void {
    writeTagHeader(tagHeader, 0, type, payload.length, time);
    writeU32(tagTrailer, 0, FLV_TAG_HEADER_SIZE + payload.length);
    this.writer.append(tagHeader);
    this.writer.append(payload);
    this.writer.append(tagTrailer);
  }

  private report(error: Error | null): void {
    if (this.outcome !== null) return;
    const size = error === null ? this.writer.position : this.writer.written;
    this.outcome = { path: this.path, size, durationMs: this.lastTime, error };
    this.listener.finished(this.outcome);
  }
}
