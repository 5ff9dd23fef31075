/**
 * Drives a recording the way src/streams/stream.ts does, from the tags of a real FLV file: metadata and
 * sequence headers become header frames (and the stream's current ones), media becomes frames in a
 * FrameArena released right after delivery, so a recorder that kept a payload view would record garbage.
 */
import { FrameArena, Frame } from "../src/media/frame.ts";
import { isAudioSequenceHeader, isVideoSequenceHeader, opensGop } from "../src/media/codec-info.ts";
import { MessageType } from "../src/protocol/message.ts";
import type { PublishedStream, StreamOutput } from "../src/streams/output.ts";
import { type FlvTag, readFlvTags } from "./flv-tags.ts";

export class FedStream implements PublishedStream {
  metadata: Frame | null = null;
  videoHeader: Frame | null = null;
  audioHeader: Frame | null = null;
  lastTimestamp = 0;
  hasVideo = false;
  readonly relayHops = 0;
  readonly origin = null;
  private readonly arena = new FrameArena();

  constructor(
    readonly app: string,
    readonly name: string,
  ) {}

  get key(): string {
    return `${this.app}/${this.name}`;
  }

  /** Delivers one tag to `output` as the stream would; `shift` is added to media timestamps. */
  deliver(output: StreamOutput, tag: FlvTag, shift = 0): void {
    const timestamp = (tag.timestamp + shift) >>> 0;
    if (tag.type === MessageType.DataAmf0) {
      this.metadata = new Frame(MessageType.DataAmf0, 0, tag.data.slice(), false, true);
      output.frame(this.metadata);
      return;
    }
    const video = tag.type === MessageType.Video;
    if (video) this.hasVideo = true;
    if (video ? isVideoSequenceHeader(tag.data) : isAudioSequenceHeader(tag.data)) {
      const header = new Frame(tag.type, timestamp, tag.data.slice(), false, true);
      if (video) this.videoHeader = header;
      else this.audioHeader = header;
      output.frame(header);
      return;
    }
    this.lastTimestamp = timestamp;
    const frame = this.arena.frame(tag.type, timestamp, tag.data, video && opensGop(tag.data));
    output.frame(frame);
    frame.release();
  }
}

/** The tags of an FLV file. */
export async function flvTags(path: string): Promise<FlvTag[]> {
  return readFlvTags(new Uint8Array(await Bun.file(path).arrayBuffer()));
}

/** Audio and video tags that are not sequence headers: the frames a recording must keep. */
export function mediaTags(tags: readonly FlvTag[]): FlvTag[] {
  return tags.filter(
    (t) =>
      (t.type === MessageType.Video && !isVideoSequenceHeader(t.data)) ||
      (t.type === MessageType.Audio && !isAudioSequenceHeader(t.data)),
  );
}
