import { describe, expect, it } from "bun:test";
import { splitAggregate } from "../../src/protocol/aggregate.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import type { RtmpMessage } from "../../src/protocol/message.ts";
import { hex, toHex } from "../helpers/hex.ts";

function split(payload: Uint8Array, timestamp = 1000): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  splitAggregate({ csid: 4, type: 22, streamId: 1, timestamp, payload }, (m) => out.push(m));
  return out;
}

describe("aggregate messages", () => {
  it("splits FLV tags into messages rebased on the aggregate's timestamp", () => {
    const payload = hex(
      "08 000002 000064 00 000000 AF01 0000000D" + // audio at tag ts 100
        "09 000003 000085 00 000000 170100 0000000E", // video at tag ts 133
    );
    expect(split(payload).map((m) => [m.type, m.timestamp, m.streamId, toHex(m.payload)])).toEqual([
      [8, 1000, 1, "af01"],
      [9, 1033, 1, "170100"],
    ]);
  });

  it("reads the extended timestamp byte and tolerates a missing last back-pointer", () => {
    const payload = hex("09 000001 000000 01 000000 17"); // tag ts 0x01000000, no trailing size
    expect(split(payload, 5).map((m) => [m.timestamp, toHex(m.payload)])).toEqual([[5, "17"]]);
  });

  it("refuses a tag that overruns the message", () => {
    expect(() => split(hex("09 0000FF 000000 00 000000 17"))).toThrow(ProtocolError);
    expect(() => split(hex("09 0000"))).toThrow(ProtocolError);
  });
});
