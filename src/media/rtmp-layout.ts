/**
 * A frame as RTMP chunks for one receiver: FMT0 first chunk (valid whatever that receiver saw before), FMT3
 * continuations, on chunk streams of their own per message type so they never disturb the header state of
 * the connection's own writer. One layout object per player or relay (its chunk size and stream id); laying
 * out a frame allocates nothing.
 */
import { copySelfContained, selfContainedSize } from "../protocol/chunk-writer.ts";
import { Csid, MessageType } from "../protocol/message.ts";
import type { Frame, FrameLayout } from "./frame.ts";

function csidFor(type: number): number {
  return type === MessageType.Audio ? Csid.Audio : type === MessageType.Video ? Csid.Video : Csid.Data;
}

export class RtmpLayout implements FrameLayout {
  constructor(
    readonly chunkSize: number,
    readonly streamId: number,
  ) {}

  size(frame: Frame): number {
    return selfContainedSize(csidFor(frame.type), frame.timestamp, frame.payload.length, this.chunkSize);
  }

  copy(frame: Frame, dst: Uint8Array, at: number, from: number, max: number): number {
    const { type } = frame;
    return copySelfContained(csidFor(type), type, this.streamId, frame.timestamp, frame.payload, this.chunkSize, dst, at, from, max);
  }
}
