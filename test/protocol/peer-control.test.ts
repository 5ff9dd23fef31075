import { describe, expect, it } from "bun:test";
import { pingRequest, windowAckSize } from "../../src/protocol/control.ts";
import { PeerControl } from "../../src/protocol/peer-control.ts";
import { toHex } from "../helpers/hex.ts";

describe("PeerControl", () => {
  it("acknowledges nothing until the peer sets a window", () => {
    const c = new PeerControl();
    c.received(10_000_000);
    expect(c.ackDue()).toBeNull();
  });

  it("acknowledges each completed window with the total received so far", () => {
    const c = new PeerControl();
    expect(c.onControl(windowAckSize(1000))).toBeNull();
    c.received(999);
    expect(c.ackDue()).toBeNull();
    c.received(1);
    const ack = c.ackDue()!;
    expect([ack.type, ack.csid, ack.streamId, toHex(ack.payload)]).toEqual([3, 2, 0, "000003e8"]);
    c.received(2500);
    expect(toHex(c.ackDue()!.payload)).toBe("00000dac");
    expect(c.ackDue()).toBeNull();
  });

  it("answers a Ping Request with a Ping Response carrying its timestamp", () => {
    const pong = new PeerControl().onControl(pingRequest(0x01020304))!;
    expect([pong.type, toHex(pong.payload)]).toEqual([4, "000701020304"]);
  });
});
