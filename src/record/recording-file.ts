/**
 * What every recorded file shares whatever its format (FlvFile, Mp4File): the batch writer it is appended
 * through, its path once created, timestamps rebased to the file's first media frame, video from a keyframe,
 * and an outcome reported exactly once. A format says how frames are laid out and how the file is finalized.
 */
import type { Frame } from "../media/frame.ts";
import { BatchWriter, type Patch, type WriterLimits } from "./batch-writer.ts";
import type { DiskLane } from "./disk-lane.ts";
import type { CreatedFile } from "./file-name.ts";

/** What the file starts with, as the stream has it when the file opens. */
export interface FileStart {
  /** The media frame the file starts at (a keyframe, or audio). */
  first: Frame;
  /** The publisher's onMetaData payload ("onMetaData", {...}). */
  metadata: Uint8Array | null;
  /** The stream's current sequence headers. */
  headers: Frame[];
  /** The stream has audio / video (a sequence header, or frames seen). */
  audio: boolean;
  video: boolean;
}

/** How every file of a Recorder is written. */
export interface FileSettings {
  /** Entries the file's keyframe index has room for. */
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

export interface FileListener {
  opened(path: string): void;
  written(bytes: number): void;
  /** The file leaves out the stream's audio or video: the format does not carry its codec. */
  leftOut(kind: "audio" | "video"): void;
  /** Exactly once: finished, failed (open, write, finalize) or aborted. */
  finished(outcome: FileOutcome): void;
}

export abstract class RecordingFile {
  protected readonly writer: BatchWriter;
  /** Publisher timestamp of the first media frame: file time 0. */
  private base: number | null = null;
  /** File time of the latest media frame. */
  protected lastTime = 0;
  protected videoWritten = false;
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
    settings: FileSettings,
    protected readonly listener: FileListener,
  ) {
    this.path = intendedPath;
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
  }

  get congested(): boolean {
    return this.writer.congested;
  }

  /** A sequence header changed what the file can hold: a new file should start where one may. */
  get outdated(): boolean {
    return false;
  }

  /** Whether a video frame may be written: the file's video starts at a keyframe. */
  takesVideo(frame: Frame): boolean {
    return this.videoWritten || frame.keyframe;
  }

  /** An audio or video frame (check takesVideo first); the first one is file time 0. */
  abstract media(frame: Frame): void;

  /** A sequence header or timed data (cue points, captions), where it comes in the stream. */
  abstract extra(frame: Frame): void;

  /** Writes the rest and finalizes, then closes. Resolves after the outcome is reported. */
  finish(): Promise<void> {
    this.finishing ??= (async () => {
      await this.writer.finish(this.finalize());
      this.report(this.writer.failed);
    })();
    return this.finishing;
  }

  /** Appends what the format ends a file with; returns what goes over earlier bytes once the rest is written. */
  protected abstract finalize(): Patch[];

  /** Stops at once (a shutdown deadline passed): the file keeps what was written, without finalizing. */
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

  /** The file time of a media frame being written, which becomes time 0 when it is the first. */
  protected stamp(frame: Frame): number {
    this.base ??= frame.timestamp;
    const time = this.time(frame.timestamp);
    if (time > this.lastTime) this.lastTime = time;
    if (frame.video) this.videoWritten = true;
    return time;
  }

  /** Reports the outcome, once: the first call wins. */
  protected report(error: Error | null): void {
    if (this.outcome !== null) return;
    const size = error === null ? this.writer.position : this.writer.written;
    this.outcome = { path: this.path, size, durationMs: this.lastTime, error };
    this.listener.finished(this.outcome);
  }
}
