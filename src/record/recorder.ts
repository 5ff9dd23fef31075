/**
 * Records the published streams that recording.streams selects (all of them when it is empty) to FLV or MP4
 * files (recording.format) under recording.dir: one StreamRecording per publication. Answers what the HTTP API and /metrics ask (the
 * file a stream is being recorded to, totals) and finalizes every open file on shutdown within its deadline.
 */
import { resolve } from "node:path";
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { PublishedStream, StreamOutput } from "../streams/output.ts";
import { keyMatcher } from "../streams/key-pattern.ts";
import type { WriterLimits } from "./batch-writer.ts";
import { DiskLane } from "./disk-lane.ts";
import type { RecordingFile } from "./recording-file.ts";
import { type RecordingFormatName, recordingFormats } from "./recording-format.ts";
import { type RecorderCounters, type RecordingContext, StreamRecording } from "./stream-recording.ts";

export interface RecordingSettings {
  enabled: boolean;
  /** As written: a relative path is relative to the working directory. */
  dir: string;
  /** 0 = one file per publish; else a new file at the first keyframe past this duration. */
  segmentMs: number;
  /** Stream keys or globs ("live/*") to record; empty = every stream. */
  streams: string[];
  /** flv, or mp4: fragmented MP4, playable while written and after a crash. */
  format: RecordingFormatName;
}

/**
 * Keyframe index entries a file reserves room for without recording.segment (about 68 min at 2 s GOPs; an
 * MP4 indexes its fragments that open with a keyframe, or each fragment of an audio-only file).
 */
export const MAX_INDEX_ENTRIES = 2048;
const MIN_INDEX_ENTRIES = 32;
/** A segment's index has room for two keyframes a second: every keyframe of any usual GOP length. */
const INDEXED_KEYFRAMES_PER_SECOND = 2;

/** Index capacity for a file of recording.segment (0: unbounded length, the maximum). */
export function indexCapacity(segmentMs: number): number {
  if (segmentMs <= 0) return MAX_INDEX_ENTRIES;
  const wanted = Math.ceil((segmentMs / 1000) * INDEXED_KEYFRAMES_PER_SECOND) + MIN_INDEX_ENTRIES;
  return Math.min(MAX_INDEX_ENTRIES, wanted);
}

export interface RecorderStats {
  /** Publications being recorded now. */
  active: number;
  /** Bytes that reached recording files, since start. */
  bytes: number;
  /** Files created, since start. */
  files: number;
  /** Files that ended with an error, since start. */
  errors: number;
}

export class Recorder {
  private readonly selects: (key: string) => boolean;
  private readonly recordings = new Map<string, StreamRecording>();
  /** Files started and not yet done (finished, failed or aborted). */
  private readonly files = new Set<RecordingFile>();
  private readonly counters: RecorderCounters = { bytes: 0, files: 0, errors: 0 };
  private readonly context: RecordingContext;
  private readonly idleWaiters: Array<() => void> = [];
  private stopping = false;

  constructor(
    readonly settings: RecordingSettings,
    readonly log: Logger,
    readonly events: EventChannel,
    /** Batch writer limits other than the defaults (tests use small ones). */
    limits?: Partial<WriterLimits>,
  ) {
    this.selects = keyMatcher(settings.streams);
    this.context = {
      // Absolute, so that the paths in events mean the same to a hook script whatever its working directory.
      dir: resolve(settings.dir),
      segmentMs: settings.segmentMs,
      format: recordingFormats[settings.format],
      indexCapacity: indexCapacity(settings.segmentMs),
      lane: new DiskLane(),
      limits,
      log,
      events,
      counters: this.counters,
      fileStarted: (file) => this.files.add(file),
      fileDone: (file) => this.fileDone(file),
      recordingEnded: (recording) => {
        if (this.recordings.get(recording.streamKey) === recording) this.recordings.delete(recording.streamKey);
      },
    };
  }

  /** The recording output for a publication that starts now, or null when it is not recorded. */
  output(stream: PublishedStream): StreamOutput | null {
    if (!this.settings.enabled || this.stopping || !this.selects(stream.key)) return null;
    const recording = new StreamRecording(stream, this.context);
    this.recordings.set(stream.key, recording);
    return recording;
  }

  /** The name of the file `streamKey` is being recorded to, or null (not recorded, or no file yet). */
  recording(streamKey: string): string | null {
    return this.recordings.get(streamKey)?.fileName ?? null;
  }

  stats(): RecorderStats {
    return { active: this.recordings.size, ...this.counters };
  }

  /** Graceful shutdown: finalize every open file by `deadlineMs` (a performance.now() time). */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    for (const recording of [...this.recordings.values()]) recording.end();
    await this.filesDone(deadlineMs);
    // Past the deadline: what is written stays playable, only without its final metadata or index.
    for (const file of [...this.files]) file.abort();
  }

  private filesDone(deadlineMs: number): Promise<void> {
    if (this.files.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadlineMs - performance.now()));
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private fileDone(file: RecordingFile): void {
    this.files.delete(file);
    if (this.files.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
