import { describe, expect, it } from "bun:test";
import {
  PeerBandwidthLimit,
  UserControlEventType,
  abortMessage,
  acknowledgement,
  decodeControl,
  encodeControl,
  pingRequest,
  pingResponse,
  setBufferLength,
  setChunkSize,
  setPeerBandwidth,
  streamBegin,
  streamDry,
  streamEof,
  streamIsRecorded,
  windowAckSize,
} from "../../src/protocol/control.ts";
import type { ControlMessage } from "../../src/protocol/control.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { Csid, MessageType } from "../../src/protocol/message.ts";
import type { RtmpMessage } from "../../src/protocol/message.ts";
import { hex, toHex } from "../helpers/hex.ts";

const E = UserControlEventType;

interface Case {
  name: string;
  bytes: string;
  decoded: ControlMessage;
  /** The one-line builder that must produce the same message. */
  built: RtmpMessage;
}

// Payloads only (no chunk header), as the reference's control_*.bin goldens are.
const cases: Case[] = [
  {
    name: "Set Chunk Size 4096 (golden)",
    bytes: "00001000",
    decoded: { type: 1, chunkSize: 4096 },
    built: setChunkSize(4096),
  },
  {
    name: "Set Chunk Size at its maximum",
    bytes: "7fffffff",
    decoded: { type: 1, chunkSize: 0x7fffffff },
    built: setChunkSize(0x7fffffff),
  },
  { name: "Abort chunk stream 6", bytes: "00000006", decoded: { type: 2, csid: 6 }, built: abortMessage(6) },
  {
    name: "Acknowledgement 1,000,000 (golden)",
    bytes: "000F4240",
    decoded: { type: 3, sequence: 1_000_000 },
    built: acknowledgement(1_000_000),
  },
  {
    name: "Acknowledgement at the top of the u32 range",
    bytes: "ffffffff",
    decoded: { type: 3, sequence: 0xffffffff },
    built: acknowledgement(0xffffffff),
  },
  {
    name: "Window Ack Size 2,500,000 (golden)",
    bytes: "002625A0",
    decoded: { type: 5, windowSize: 2_500_000 },
    built: windowAckSize(2_500_000),
  },
  {
    name: "Set Peer Bandwidth 2,500,000 Dynamic (golden)",
    bytes: "002625A0 02",
    decoded: { type: 6, windowSize: 2_500_000, limitType: 2 },
    built: setPeerBandwidth(2_500_000, PeerBandwidthLimit.Dynamic),
  },
  {
    name: "Set Peer Bandwidth Hard",
    bytes: "00010000 00",
    decoded: { type: 6, windowSize: 65536, limitType: 0 },
    built: setPeerBandwidth(65536, PeerBandwidthLimit.Hard),
  },
  {
    name: "Set Peer Bandwidth Soft",
    bytes: "00010000 01",
    decoded: { type: 6, windowSize: 65536, limitType: 1 },
    built: setPeerBandwidth(65536, PeerBandwidthLimit.Soft),
  },
  {
    name: "Stream Begin 1 (golden)",
    bytes: "0000 00000001",
    decoded: { type: 4, event: { eventType: E.StreamBegin, streamId: 1 } },
    built: streamBegin(1),
  },
  {
    name: "Stream EOF 1",
    bytes: "0001 00000001",
    decoded: { type: 4, event: { eventType: E.StreamEof, streamId: 1 } },
    built: streamEof(1),
  },
  {
    name: "Stream Dry 2",
    bytes: "0002 00000002",
    decoded: { type: 4, event: { eventType: E.StreamDry, streamId: 2 } },
    built: streamDry(2),
  },
  {
    name: "Set Buffer Length stream 1, 3000 ms",
    bytes: "0003 00000001 00000BB8",
    decoded: { type: 4, event: { eventType: E.SetBufferLength, streamId: 1, bufferLength: 3000 } },
    built: setBufferLength(1, 3000),
  },
  {
    name: "Stream Is Recorded 1",
    bytes: "0004 00000001",
    decoded: { type: 4, event: { eventType: E.StreamIsRecorded, streamId: 1 } },
    built: streamIsRecorded(1),
  },
  {
    name: "Ping Request",
    bytes: "0006 DEADBEEF",
    decoded: { type: 4, event: { eventType: E.PingRequest, timestamp: 0xdeadbeef } },
    built: pingRequest(0xdeadbeef),
  },
  {
    name: "Ping Response",
    bytes: "0007 0001E240",
    decoded: { type: 4, event: { eventType: E.PingResponse, timestamp: 123_456 } },
    built: pingResponse(123_456),
  },
];

describe("control messages, both directions", () => {
  for (const c of cases) {
    it(`decodes ${c.name}`, () => {
      expect(decodeControl(c.decoded.type, hex(c.bytes))).toEqual(c.decoded);
    });

    it(`encodes ${c.name} on chunk stream 2, message stream 0, timestamp 0`, () => {
      const expected = { csid: Csid.Control, type: c.decoded.type, streamId: 0, timestamp: 0, payload: hex(c.bytes) };
      expect(encodeControl(c.decoded)).toEqual(expected);
      expect(c.built).toEqual(expected);
    });
  }

  it("keeps an unknown User Control event's body as a view (SWF verification request, event 26)", () => {
    const payload = hex("001A 01 02 03");
    const msg = decodeControl(MessageType.UserControl, payload);
    expect(msg).toEqual({ type: 4, unknownEvent: 26, data: hex("01 02 03") });
    if (!("unknownEvent" in msg)) throw new Error("expected an unknown event");
    expect(msg.data.buffer).toBe(payload.buffer);
    expect(toHex(encodeControl(msg).payload)).toBe("001a010203");
  });

  it("accepts an unknown User Control event with no body and encodes it as 2 bytes", () => {
    const msg = decodeControl(MessageType.UserControl, hex("001F"));
    expect(msg).toEqual({ type: 4, unknownEvent: 31, data: new Uint8Array(0) });
    expect(encodeControl(msg).payload).toEqual(hex("001F"));
  });

  it("narrows a known event by its type, so a ping can be answered with its own timestamp", () => {
    const msg = decodeControl(MessageType.UserControl, hex("0006 00000064"));
    if (msg.type !== MessageType.UserControl || !("event" in msg)) throw new Error("expected a known event");
    if (msg.event.eventType !== E.PingRequest) throw new Error("expected a ping request");
    expect(pingResponse(msg.event.timestamp).payload).toEqual(hex("0007 00000064"));
  });
});

describe("control decoder rejects", () => {
  // [what, message type, payload, rule, message]
  const errors: [string, number, string, string, RegExp][] = [
    ["SCS of 3 bytes", 1, "001000", "control.set-chunk-size", /3 bytes, expected 4/],
    ["SCS of 5 bytes", 1, "00001000 00", "control.set-chunk-size", /5 bytes/],
    ["SCS 0", 1, "00000000", "control.set-chunk-size", /chunk size 0 /],
    ["SCS with bit 31 set", 1, "80001000", "control.set-chunk-size", /2147487744/],
    ["Abort of 2 bytes", 2, "0006", "control.abort", /2 bytes, expected 4/],
    ["Ack of 0 bytes", 3, "", "control.acknowledgement", /0 bytes/],
    ["WAS of 3 bytes", 5, "2625A0", "control.window-ack-size", /3 bytes/],
    ["WAS 0", 5, "00000000", "control.window-ack-size", /window size 0/],
    ["SPB of 4 bytes", 6, "002625A0", "control.set-peer-bandwidth", /4 bytes/],
    ["SPB limit type 3", 6, "002625A0 03", "control.set-peer-bandwidth", /type 3/],
    ["User Control of 1 byte", 4, "00", "control.user-control", /at least 2/],
    ["Stream Begin of 5 bytes", 4, "0000 000001", "control.user-control", /event 0/],
    ["Stream EOF of 7 bytes", 4, "0001 00000001 00", "control.user-control", /7 bytes/],
    ["Stream Dry with no id", 4, "0002", "control.user-control", /event 2/],
    ["Set Buffer Length of 6 bytes", 4, "0003 00000001", "control.user-control", /expected 10/],
    ["Stream Is Recorded of 2 bytes", 4, "0004", "control.user-control", /event 4/],
    ["Ping Request of 8 bytes", 4, "0006 00000001 0000", "control.user-control", /event 6/],
    ["Ping Response of 4 bytes", 4, "0007 0001", "control.user-control", /event 7/],
    ["type 0", 0, "00000000", "control.type", /type 0 is not/],
    ["type 8 (audio)", 8, "af00", "control.type", /type 8 is not/],
  ];

  for (const [name, type, bytes, rule, message] of errors) {
    it(name, () => {
      let error: unknown;
      try {
        decodeControl(type, hex(bytes));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).rule).toBe(rule);
      expect((error as ProtocolError).message).toMatch(message);
    });
  }
});
