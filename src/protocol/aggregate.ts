/**
 * Aggregate messages (type 22): several audio/video/data messages packed as FLV tags in one RTMP message,
 * as some encoders and servers send them. Split back into messages; sub-message timestamps are rebased so
 * that the first one has the aggregate's own timestamp.
 */
import { readU24 } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import type { RtmpMessage } from "./message.ts";

/** FLV tag header: type(1) size(3) timestamp(3) timestamp-extended(1) stream id(3). */
const TAG_HEADER = 11;
const PREVIOUS_TAG_SIZE = 4;

export function splitAggregate(aggregate: RtmpMessage, onMessage: (m: RtmpMessage) => void): void {
  const p = aggregate.payload;
  let at = 0;
  let base = -1;
  while (at < p.length) {
    if (p.length - at < TAG_HEADER) throw new ProtocolError("aggregate.truncated", "aggregate message ends inside a tag header");
    const type = p[at];
    const size = readU24(p, at + 1);
    const ts = ((p[at + 7] << 24) | (p[at + 4] << 16) | (p[at + 5] << 8) | p[at + 6]) >>> 0;
    const end = at + TAG_HEADER + size;
    if (end > p.length) throw new ProtocolError("aggregate.truncated", `aggregate tag of ${size} bytes overruns the message`);
    if (base < 0) base = ts;
    onMessage({
      csid: aggregate.csid,
      type,
      streamId: aggregate.streamId,
      timestamp: (aggregate.timestamp + ts - base) >>> 0,
      payload: p.subarray(at + TAG_HEADER, end),
    });
    // The back-pointer after each tag is optional in practice; skip it when present.
    at = Math.min(p.length, end + PREVIOUS_TAG_SIZE);
  }
}
