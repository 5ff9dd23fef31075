/**
 * The recording of one publication: the StreamOutput a stream feeds. It decides where files start (the first
 * keyframe or audio frame; with recording.segment, the first keyframe past the segment length; where a file
 * the format cannot extend must give way to a new one), drops media while the disk falls behind, and turns
 * each file's life into log lines and record_start/record_stop events (a file that could not even be created
 * gets only record_stop, with its error). A failed file ends this recording only; the stream and its players
 * never notice.
 */
import { basename, join } from "node:path";
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { Frame } from "../media/frame.ts";
import { MessageType } from "../protocol/message.ts";
import type { PublishedStream, StreamOutput } from "../streams/output.ts";
import { createRecordingFile, recordingStem } from "./file-name.ts";
import type { RecordingFormat } from "./recording-format.ts";
import type { FileOutcome, FileSettings, RecordingFile } from "./recording-file.ts";

/** Totals over every recording, for /metrics. */
export interface RecorderCounters {
  /** Bytes that reached recording files. */
  bytes: number;
  /** Files created. */
  files: number;
  /** Files that ended with an error (open, write, finalize, shutdown deadline). */
  errors: number;
}

/** What a recording needs from the Recorder that made it. */
export interface RecordingContext extends FileSettings {
  readonly dir: string;
  readonly segmentMs: number;
  readonly format: RecordingFormat;
  readonly log: Logger;
  readonly events: EventChannel;
  readonly counters: RecorderCounters;
  /** A file was started; fileDone() follows exactly once. */
  fileStarted(file: RecordingFile): void;
  fileDone(file: RecordingFile): void;
  /** The publication ended or its recording failed: no more files from it. */
  recordingEnded(recording: StreamRecording): void;
}

export class StreamRecording implements StreamOutput {
  private file: RecordingFile | null = null;
  private videoSeen = false;
  private ended = false;
  /** The disk fell behind: media is dropped until the next place a file could start. */
  private dropping = false;
  private warned = false;
  /** Said once per recording: no file can start (the format carries none of the codecs), or a track left out. */
  private refusalLogged = false;
  private readonly leftOutLogged = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly stream: PublishedStream,
    private readonly context: RecordingContext,
  ) {
    this.log = context.log.child({ stream_key: stream.key });
  }

  get streamKey(): string {
    return this.stream.key;
  }

  /** The current file's name, once it exists. */
  get fileName(): string | null {
    const file = this.file;
    return file !== null && file.opened ? basename(file.path) : null;
  }

  frame(frame: Frame): void {
    if (this.ended) return;
    const data = frame.type === MessageType.DataAmf0;
    // onMetaData: a file takes the stream's current one when it opens, in its first tag.
    if (data && frame.header) return;
    if (data || frame.header) {
      // Sequence headers and timed data (cue points, captions) go in where they come.
      this.file?.extra(frame);
      return;
    }
    if (frame.video) this.videoSeen = true;
    let file = this.file;
    if (file === null) {
      // The first file starts at once with audio, or with video at a keyframe.
      if (frame.video && !frame.keyframe) return;
      file = this.open(frame);
    } else if (!this.keepsUp(file, frame)) {
      // No new segment either while the disk is behind: that would pile up one backlog per file.
      return;
    } else if (this.startsFile(frame) && (file.outdated || this.segmentDue(file, frame))) {
      void file.finish();
      file = this.open(frame);
    }
    if (file !== null && (!frame.video || file.takesVideo(frame))) file.media(frame);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const file = this.file;
    this.file = null;
    if (file !== null) void file.finish();
    this.context.recordingEnded(this);
  }

  /** Where a file may start: a keyframe when the stream has video, any frame of an audio-only stream. */
  private startsFile(frame: Frame): boolean {
    if (frame.video) return frame.keyframe;
    return !this.videoSeen && this.stream.videoHeader === null;
  }

  private segmentDue(file: RecordingFile, frame: Frame): boolean {
    return this.context.segmentMs > 0 && file.time(frame.timestamp) >= this.context.segmentMs;
  }

  /** False while the disk is behind: frames are dropped, and writing resumes where a file could start. */
  private keepsUp(file: RecordingFile, frame: Frame): boolean {
    if (file.congested) {
      // Once per recording: a disk that keeps falling behind would otherwise log at every keyframe.
      if (!this.warned) this.log.warn("recording falls behind the disk: dropping media until it catches up", { path: file.path });
      this.warned = true;
      this.dropping = true;
      file.dropped++;
      return false;
    }
    if (this.dropping && !this.startsFile(frame)) {
      file.dropped++;
      return false;
    }
    this.dropping = false;
    return true;
  }

  /** A new file starting at `first`, or null when the format can make none from what the stream has. */
  private open(first: Frame): RecordingFile | null {
    const { context, stream } = this;
    const headers = [stream.videoHeader, stream.audioHeader].filter((h): h is Frame => h !== null);
    const start = {
      first,
      metadata: stream.metadata?.payload ?? null,
      headers,
      audio: stream.audioHeader !== null || !first.video,
      video: stream.videoHeader !== null || this.videoSeen,
    };
    const { format } = context;
    const refusal = format.refusal(start);
    if (refusal !== null) {
      // Tried again at every place a file could start: a new sequence header may change the answer.
      if (!this.refusalLogged) this.log.warn("stream not recorded: no file can start", { reason: refusal });
      this.refusalLogged = true;
      this.file = null;
      return null;
    }
    const stem = recordingStem(stream.app, stream.name, new Date());
    const file: RecordingFile = format.create(
      context.lane.run(() => createRecordingFile(context.dir, stem, format.extension)),
      join(context.dir, `${stem}.${format.extension}`),
      start,
      context,
      {
        opened: (path) => this.opened(path),
        written: (bytes) => (context.counters.bytes += bytes),
        leftOut: (kind) => this.leftOut(file, kind),
        finished: (outcome) => this.finished(file, outcome),
      },
    );
    this.file = file;
    context.fileStarted(file);
    return file;
  }

  private leftOut(file: RecordingFile, kind: string): void {
    if (this.leftOutLogged.has(kind)) return;
    this.leftOutLogged.add(kind);
    this.log.warn(`recording leaves out the stream's ${kind}: the file format does not carry its codec`, { path: file.path });
  }

  private opened(path: string): void {
    this.context.counters.files++;
    this.log.info("recording started", { path });
    this.context.events.emit("record_start", { streamKey: this.stream.key }, { path });
  }

  private finished(file: RecordingFile, outcome: FileOutcome): void {
    const { path, size, durationMs, error } = outcome;
    const data = { path, size, duration_sec: Math.round(durationMs) / 1000 };
    if (error === null) {
      this.log.info("recording finished", { ...data, dropped: file.dropped });
      this.context.events.emit("record_stop", { streamKey: this.stream.key }, data);
    } else {
      this.context.counters.errors++;
      this.log.error("recording failed", { ...data, dropped: file.dropped, error: error.message });
      this.context.events.emit("record_stop", { streamKey: this.stream.key }, { ...data, error: error.message });
      // A file that failed ends the recording: the publication goes on unrecorded.
      if (file === this.file) {
        this.file = null;
        this.end();
      }
    }
    this.context.fileDone(file);
  }
}
