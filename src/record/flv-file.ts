/**
 * One recorded FLV file, complete on its own: the file header, a reserved onMetaData tag, the sequence
 * headers, then media from its first frame with timestamps rebased to start at 0; video only from a
 * keyframe. Finishing rewrites the metadata in place (duration, filesize, keyframe index) and the header's
 * track flags, so nothing is copied; until then the file is a playable FLV at every write.
 */
import type { Frame } from "../media/frame.ts";
import { FLV_FILE_HEADER_SIZE, FLV_TAG_HEADER_SIZE, flvFileHeader, writeTagHeader } from "../media/flv.ts";
import { writeU32 } from "../protocol/bytes.ts";
import { MessageType } from "../protocol/message.ts";
import type { Patch } from "./batch-writer.ts";
import type { CreatedFile } from "./file-name.ts";
import { KeyframeIndex } from "./keyframe-index.ts";
import { RecordingMetadata, publisherProperties } from "./metadata-tag.ts";
import { type FileListener, type FileSettings, type FileStart, RecordingFile } from "./recording-file.ts";

/** Offset of the header's audio/video flags byte. */
const FLAGS_POSITION = 4;
/** Offset of the onMetaData tag's body: it is the first tag. */
const METADATA_BODY_POSITION = FLV_FILE_HEADER_SIZE + FLV_TAG_HEADER_SIZE;

/** A keyframe's tag: its time in seconds, and the file offset of its tag header (where libavformat expects it). */
interface IndexedKeyframe {
  time: number;
  position: number;
}

/** Tag header and PreviousTagSize of the tag being appended (appending copies them at once). */
const tagHeader = new Uint8Array(FLV_TAG_HEADER_SIZE);
const tagTrailer = new Uint8Array(4);

export class FlvFile extends RecordingFile {
  private readonly index: KeyframeIndex<IndexedKeyframe>;
  private readonly metadata: RecordingMetadata;
  private audioWritten = false;

  constructor(created: Promise<CreatedFile>, intendedPath: string, start: FileStart, settings: FileSettings, listener: FileListener) {
    super(created, intendedPath, settings, listener);
    this.index = new KeyframeIndex(settings.indexCapacity);
    this.metadata = new RecordingMetadata(publisherProperties(start.metadata), settings.indexCapacity);
    this.writer.append(flvFileHeader(start.audio, start.video));
    this.appendTag(MessageType.DataAmf0, 0, this.metadataBody());
    for (const header of start.headers) this.appendTag(header.type, 0, header.payload);
  }

  media(frame: Frame): void {
    const time = this.stamp(frame);
    if (frame.video && frame.keyframe) this.index.add({ time: time / 1000, position: this.writer.position });
    if (!frame.video) this.audioWritten = true;
    this.appendTag(frame.type, time, frame.payload);
  }

  /** Sequence headers and timed data go in as tags at their place in the file. */
  extra(frame: Frame): void {
    this.appendTag(frame.type, this.time(frame.timestamp), frame.payload);
  }

  /** The final metadata and the header's track flags, over what the file started with. */
  protected finalize(): Patch[] {
    const flags = flvFileHeader(this.audioWritten, this.videoWritten).subarray(FLAGS_POSITION, FLAGS_POSITION + 1);
    return [
      { position: METADATA_BODY_POSITION, bytes: this.metadataBody(this.writer.position) },
      { position: FLAGS_POSITION, bytes: flags },
    ];
  }

  private metadataBody(fileSize = 0): Uint8Array {
    const keyframes = this.index.entries;
    return this.metadata.body({
      durationMs: this.lastTime,
      fileSize,
      times: keyframes.map((k) => k.time),
      positions: keyframes.map((k) => k.position),
    });
  }

  private appendTag(type: number, time: number, payload: Uint8Array): void {
    writeTagHeader(tagHeader, 0, type, payload.length, time);
    writeU32(tagTrailer, 0, FLV_TAG_HEADER_SIZE + payload.length);
    this.writer.append(tagHeader);
    this.writer.append(payload);
    this.writer.append(tagTrailer);
  }
}
