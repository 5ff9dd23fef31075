/**
 * Protocol control messages (types 1, 2, 3, 5, 6) and User Control events (type 4): one decoder that enforces
 * the exact payload lengths, and one encoder, wrapped by one-line builders for each message we send.
 */
import { readU16, readU32, writeU32 } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import { Csid, MessageType } from "./message.ts";
import type { RtmpMessage } from "./message.ts";

export const UserControlEventType = {
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

/** Set Peer Bandwidth limit types. */
export const PeerBandwidthLimit = { Hard: 0, Soft: 1, Dynamic: 2 } as const;
export type PeerBandwidthLimitType = (typeof PeerBandwidthLimit)[keyof typeof PeerBandwidthLimit];

type Events = typeof UserControlEventType;

/** A User Control event whose layout we know. */
export type UserControlEvent =
  | { eventType: Events["StreamBegin" | "StreamEof" | "StreamDry" | "StreamIsRecorded"]; streamId: number }
  | { eventType: Events["SetBufferLength"]; streamId: number; bufferLength: number }
  | { eventType: Events["PingRequest" | "PingResponse"]; timestamp: number };

export type ControlMessage =
  | { type: typeof MessageType.SetChunkSize; chunkSize: number }
  | { type: typeof MessageType.Abort; csid: number }
  | { type: typeof MessageType.Acknowledgement; sequence: number }
  | { type: typeof MessageType.WindowAckSize; windowSize: number }
  | { type: typeof MessageType.SetPeerBandwidth; windowSize: number; limitType: PeerBandwidthLimitType }
  | { type: typeof MessageType.UserControl; event: UserControlEvent }
  // Any other event (e.g. SWF verification, buffer empty/ready), kept apart so that a switch on
  // `event.eventType` above narrows to one layout. `data` is a view into the payload.
  | { type: typeof MessageType.UserControl; unknownEvent: number; data: Uint8Array };

function expectLength(p: Uint8Array, length: number, rule: string, what: string): void {
  if (p.length !== length) {
    throw new ProtocolError(rule, `${what} payload is ${p.length} bytes, expected ${length}`);
  }
}

function decodeUserControl(p: Uint8Array): ControlMessage {
  const rule = "control.user-control";
  if (p.length < 2) throw new ProtocolError(rule, `User Control payload is ${p.length} bytes, expected at least 2`);
  const eventType = readU16(p, 0);
  const what = `User Control event ${eventType}`;
  const type = MessageType.UserControl;
  switch (eventType) {
    case UserControlEventType.StreamBegin:
    case UserControlEventType.StreamEof:
    case UserControlEventType.StreamDry:
    case UserControlEventType.StreamIsRecorded:
      expectLength(p, 6, rule, what);
      return { type, event: { eventType, streamId: readU32(p, 2) } };
    case UserControlEventType.SetBufferLength:
      expectLength(p, 10, rule, what);
      return { type, event: { eventType, streamId: readU32(p, 2), bufferLength: readU32(p, 6) } };
    case UserControlEventType.PingRequest:
    case UserControlEventType.PingResponse:
      expectLength(p, 6, rule, what);
      return { type, event: { eventType, timestamp: readU32(p, 2) } };
    default:
      return { type, unknownEvent: eventType, data: p.subarray(2) };
  }
}

/** Decodes a control message body; throws ProtocolError on a wrong length or a value the peer may not send. */
export function decodeControl(type: number, payload: Uint8Array): ControlMessage {
  switch (type) {
    case MessageType.SetChunkSize: {
      expectLength(payload, 4, "control.set-chunk-size", "Set Chunk Size");
      const chunkSize = readU32(payload, 0);
      // The spec reserves bit 31 (it must be 0) and a chunk must carry at least one byte.
      if (chunkSize === 0 || chunkSize > 0x7fffffff) {
        throw new ProtocolError("control.set-chunk-size", `chunk size ${chunkSize} is outside 1..2147483647`);
      }
      return { type, chunkSize };
    }
    case MessageType.Abort:
      expectLength(payload, 4, "control.abort", "Abort");
      return { type, csid: readU32(payload, 0) };
    case MessageType.Acknowledgement:
      expectLength(payload, 4, "control.acknowledgement", "Acknowledgement");
      return { type, sequence: readU32(payload, 0) };
    case MessageType.UserControl:
      return decodeUserControl(payload);
    case MessageType.WindowAckSize: {
      expectLength(payload, 4, "control.window-ack-size", "Window Acknowledgement Size");
      const windowSize = readU32(payload, 0);
      if (windowSize === 0) throw new ProtocolError("control.window-ack-size", "window size 0");
      return { type, windowSize };
    }
    case MessageType.SetPeerBandwidth: {
      expectLength(payload, 5, "control.set-peer-bandwidth", "Set Peer Bandwidth");
      const limitType = payload[4];
      if (limitType !== 0 && limitType !== 1 && limitType !== 2) {
        throw new ProtocolError("control.set-peer-bandwidth", `limit type ${limitType} is not 0, 1 or 2`);
      }
      return { type, windowSize: readU32(payload, 0), limitType };
    }
    default:
      throw new ProtocolError("control.type", `message type ${type} is not a control message (1-6)`);
  }
}

function u32Payload(n: number): Uint8Array {
  const p = new Uint8Array(4);
  writeU32(p, 0, n);
  return p;
}

function userControlPayload(e: UserControlEvent): Uint8Array {
  const p = new Uint8Array(e.eventType === UserControlEventType.SetBufferLength ? 10 : 6);
  p[1] = e.eventType;
  switch (e.eventType) {
    case UserControlEventType.SetBufferLength:
      writeU32(p, 2, e.streamId);
      writeU32(p, 6, e.bufferLength);
      break;
    case UserControlEventType.PingRequest:
    case UserControlEventType.PingResponse:
      writeU32(p, 2, e.timestamp);
      break;
    default:
      writeU32(p, 2, e.streamId);
  }
  return p;
}

function controlPayload(msg: ControlMessage): Uint8Array {
  switch (msg.type) {
    case MessageType.SetChunkSize:
      return u32Payload(msg.chunkSize);
    case MessageType.Abort:
      return u32Payload(msg.csid);
    case MessageType.Acknowledgement:
      return u32Payload(msg.sequence);
    case MessageType.WindowAckSize:
      return u32Payload(msg.windowSize);
    case MessageType.SetPeerBandwidth: {
      const p = new Uint8Array(5);
      writeU32(p, 0, msg.windowSize);
      p[4] = msg.limitType;
      return p;
    }
    case MessageType.UserControl: {
      if ("event" in msg) return userControlPayload(msg.event);
      const p = new Uint8Array(2 + msg.data.length);
      p[0] = msg.unknownEvent >>> 8;
      p[1] = msg.unknownEvent;
      p.set(msg.data, 2);
      return p;
    }
  }
}

/** A control message ready for the chunk writer: chunk stream 2, message stream 0, timestamp 0. */
export function encodeControl(msg: ControlMessage): RtmpMessage {
  return { csid: Csid.Control, type: msg.type, streamId: 0, timestamp: 0, payload: controlPayload(msg) };
}

export function setChunkSize(chunkSize: number): RtmpMessage {
  return encodeControl({ type: MessageType.SetChunkSize, chunkSize });
}

export function abortMessage(csid: number): RtmpMessage {
  return encodeControl({ type: MessageType.Abort, csid });
}

export function acknowledgement(sequence: number): RtmpMessage {
  return encodeControl({ type: MessageType.Acknowledgement, sequence });
}

export function windowAckSize(windowSize: number): RtmpMessage {
  return encodeControl({ type: MessageType.WindowAckSize, windowSize });
}

export function setPeerBandwidth(windowSize: number, limitType: PeerBandwidthLimitType): RtmpMessage {
  return encodeControl({ type: MessageType.SetPeerBandwidth, windowSize, limitType });
}

function userControl(event: UserControlEvent): RtmpMessage {
  return encodeControl({ type: MessageType.UserControl, event });
}

export function streamBegin(streamId: number): RtmpMessage {
  return userControl({ eventType: UserControlEventType.StreamBegin, streamId });
}

export function streamEof(streamId: number): RtmpMessage {
  return userControl({ eventType: UserControlEventType.StreamEof, streamId });
}

export function streamDry(streamId: number): RtmpMessage {
  return userControl({ eventType: UserControlEventType.StreamDry, streamId });
}

export function streamIsRecorded(streamId: number): RtmpMessage {
  return userControl({ eventType: UserControlEventType.StreamIsRecorded, streamId });
}

export function setBufferLength(streamId: number, bufferLength: number): RtmpMessage {
  return userControl({ eventType: UserControlEventType.SetBufferLength, streamId, bufferLength });
}

export function pingRequest(timestamp: number): RtmpMessage {
  return userControl({ eventType: UserControlEventType.PingRequest, timestamp });
}

export function pingResponse(timestamp: number): RtmpMessage {
  return userControl({ eventType: UserControlEventType.PingResponse, timestamp });
}
