/**
 * The file formats a recording can take (recording.format): FLV, or fragmented MP4. Each names its file
 * extension, says whether a file can start from what the stream has, and makes the file; everything else
 * (where files start, segments, names, the disk, events) is the recording's, the same for both.
 */
import type { CreatedFile } from "./file-name.ts";
import { FlvFile } from "./flv-file.ts";
import { Mp4File, mp4Tracks } from "./mp4-file.ts";
import type { FileListener, FileSettings, FileStart, RecordingFile } from "./recording-file.ts";

export const RECORDING_FORMATS = ["flv", "mp4"] as const;
export type RecordingFormatName = (typeof RECORDING_FORMATS)[number];

export interface RecordingFormat {
  readonly extension: string;
  /** Why no file can start from `start` (the format carries none of the stream's codecs), or null. */
  refusal(start: FileStart): string | null;
  create(
    created: Promise<CreatedFile>,
    intendedPath: string,
    start: FileStart,
    settings: FileSettings,
    listener: FileListener,
  ): RecordingFile;
}

export const recordingFormats: Record<RecordingFormatName, RecordingFormat> = {
  flv: {
    extension: "flv",
    refusal: () => null,
    create: (created, path, start, settings, listener) => new FlvFile(created, path, start, settings, listener),
  },
  mp4: {
    extension: "mp4",
    refusal: (start) =>
      mp4Tracks(start).length > 0
        ? null
        : "MP4 carries none of the stream's codecs (it takes H.264, H.265, AV1, VP9, AAC and Opus with their sequence headers)",
    create: (created, path, start, settings, listener) => new Mp4File(created, path, start, settings, listener),
  },
};
