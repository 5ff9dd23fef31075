import { describe, expect, it } from "bun:test";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { ClientHandshake, ServerHandshake } from "../../src/protocol/handshake.ts";
import type { HandshakeStep } from "../../src/protocol/handshake.ts";
import { concat, ramp } from "../../support/bytes.ts";
import { hex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

// The reference's golden handshake_valid_c0c1.bin: version 3 and an all-zero C1.
const GOLDEN_C0C1 = concat(hex("03"), new Uint8Array(1536));
// 2024-01-01T00:00:00.123Z: more than 32 bits of milliseconds, so the time field must wrap.
const NOW = 1_704_067_200_123;
const NOW_U32 = NOW % 2 ** 32;

function fixedRandom(b: Uint8Array): void {
  b.set(ramp(0x11, b.length));
}

function server(): ServerHandshake {
  return new ServerHandshake({ now: () => NOW, randomFill: fixedRandom });
}

/** Pushes `bytes` in slices cut by `cut`, collecting what the handshake asks to send and returns as rest. */
function feed(hs: { push(b: Uint8Array): HandshakeStep }, bytes: Uint8Array, cut: () => number) {
  const sent: Uint8Array[] = [];
  const rest: Uint8Array[] = [];
  let done = false;
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(cut(), bytes.length - at);
    const step = hs.push(bytes.subarray(at, at + n));
    if (step.send) sent.push(step.send.slice());
    if (step.rest) rest.push(step.rest);
    done = step.done;
    at += n;
  }
  return { sent, rest: concat(...rest), done };
}

function expectServerReply(reply: Uint8Array, c1: Uint8Array): void {
  expect(reply.length).toBe(3073);
  expect(reply[0]).toBe(3);
  const s1 = reply.subarray(1, 1537);
  expect(new DataView(s1.buffer, s1.byteOffset).getUint32(0)).toBe(NOW_U32);
  expect(s1.subarray(4, 8)).toEqual(new Uint8Array(4));
  expect(s1.subarray(8)).toEqual(ramp(0x11, 1528));
  expect(reply.subarray(1537)).toEqual(c1);
}

describe("ServerHandshake", () => {
  it("answers the golden C0C1 with S0 = 3, S1 = time + zeros + random, S2 = C1, in one write", () => {
    const hs = server();
    const step = hs.push(GOLDEN_C0C1);
    expect(step.done).toBe(false);
    expect(step.rest).toBeNull();
    expectServerReply(step.send!, GOLDEN_C0C1.subarray(1));
  });

  it("echoes a digest-style C1 (FFmpeg's version 80 00 07 02) byte for byte", () => {
    const c1 = concat(hex("00000000 80000702"), ramp(0x40, 1528));
    const step = server().push(concat(hex("03"), c1));
    expectServerReply(step.send!, c1);
  });

  it("completes after C2 and reports whether C2 echoed S1", () => {
    const hs = server();
    const s1 = hs.push(GOLDEN_C0C1).send!.slice(1, 1537);
    const step = hs.push(s1);
    expect(step).toEqual({ send: null, done: true, rest: null });
    expect(hs.done).toBe(true);
    expect(hs.c2MatchesS1).toBe(true);

    const other = server();
    other.push(GOLDEN_C0C1);
    expect(other.push(new Uint8Array(1536)).done).toBe(true);
    expect(other.c2MatchesS1).toBe(false);
  });

  it("returns the bytes after C2 as rest, a view into the pushed slice", () => {
    const hs = server();
    hs.push(GOLDEN_C0C1);
    const input = concat(new Uint8Array(1536), hex("02 000000 000004 01 00001000"));
    const step = hs.push(input);
    expect(step.done).toBe(true);
    expect(step.rest).toEqual(hex("02 000000 000004 01 00001000"));
    expect(step.rest!.buffer).toBe(input.buffer);
    expect(hs.push(hex("c2")).rest).toEqual(hex("c2"));
  });

  it("gives the same result fed one byte at a time", () => {
    const input = concat(GOLDEN_C0C1, new Uint8Array(1536), hex("aa bb"));
    const { sent, rest, done } = feed(server(), input, () => 1);
    expect(sent.length).toBe(1);
    expectServerReply(sent[0], GOLDEN_C0C1.subarray(1));
    expect(done).toBe(true);
    expect(rest).toEqual(hex("aa bb"));
  });

  it("gives the same result fed in random slices", () => {
    const rand = mulberry32(1935);
    for (let round = 0; round < 50; round++) {
      const c1 = ramp(round, 1536);
      const input = concat(hex("03"), c1, new Uint8Array(1536), ramp(0x80, 100));
      const { sent, rest, done } = feed(server(), input, () => 1 + Math.floor(rand() * 2000));
      expect(sent.length).toBe(1);
      expectServerReply(sent[0], c1);
      expect(done).toBe(true);
      expect(rest).toEqual(ramp(0x80, 100));
    }
  });

  it("rejects RTMPE (C0 = 0x06) on the first byte, naming it", () => {
    const hs = server();
    let error: unknown;
    try {
      hs.push(concat(hex("06"), new Uint8Array(1536)));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).rule).toBe("handshake.version");
    expect((error as ProtocolError).message).toContain("0x06 (RTMPE");
    expect(() => server().push(hex("06"))).toThrow(ProtocolError);
  });

  it("rejects other versions, e.g. a TLS ClientHello or an HTTP request", () => {
    expect(() => server().push(hex("16 0301"))).toThrow(/handshake.version: C0 version 0x16 looks like a TLS/);
    expect(() => server().push(hex('"GET / HTTP/1.1"'))).toThrow(/0x47 is not supported, only 0x03 is/);
  });

  it("fills S1 with crypto randomness by default", () => {
    const a = new ServerHandshake().push(GOLDEN_C0C1).send!;
    const b = new ServerHandshake().push(GOLDEN_C0C1).send!;
    expect(a.subarray(5, 9)).toEqual(new Uint8Array(4));
    expect(a.subarray(9, 1537)).not.toEqual(b.subarray(9, 1537));
  });
});

describe("ClientHandshake", () => {
  it("starts with C0 = 3 and C1 = time + zeros + random", () => {
    const c0c1 = new ClientHandshake({ now: () => NOW, randomFill: fixedRandom }).start();
    expect(c0c1.length).toBe(1537);
    expect(c0c1[0]).toBe(3);
    expect(new DataView(c0c1.buffer, c0c1.byteOffset).getUint32(1)).toBe(NOW_U32);
    expect(c0c1.subarray(5, 9)).toEqual(new Uint8Array(4));
    expect(c0c1.subarray(9)).toEqual(ramp(0x11, 1528));
  });

  it("sends C2 = S1 once S0+S1 are in and completes on S2, returning what follows", () => {
    const hs = new ClientHandshake();
    const c1 = hs.start().slice(1);
    const s1 = ramp(7, 1536);
    const first = hs.push(concat(hex("03"), s1));
    expect(first.send).toEqual(s1);
    expect(first.done).toBe(false);
    const last = hs.push(concat(c1, hex("c3 ff")));
    expect(last).toEqual({ send: null, done: true, rest: hex("c3 ff") });
    expect(hs.s2MatchesC1).toBe(true);
  });

  it("rejects S0 other than 3", () => {
    const hs = new ClientHandshake();
    hs.start();
    expect(() => hs.push(hex("06"))).toThrow(/handshake.version: S0 version 0x06 \(RTMPE/);
  });

  it("must be started before bytes are pushed", () => {
    expect(() => new ClientHandshake().push(hex("03"))).toThrow(/before start/);
  });
});

describe("client and server together", () => {
  it("complete both sides in memory, with random slicing, each seeing its echo", () => {
    const rand = mulberry32(42);
    const cut = () => 1 + Math.floor(rand() * 700);
    const client = new ClientHandshake();
    const srv = new ServerHandshake();

    const toServer = feed(srv, client.start(), cut);
    expect(toServer.sent.length).toBe(1);
    const toClient = feed(client, toServer.sent[0], cut);
    expect(toClient.done).toBe(true);
    expect(toClient.sent.length).toBe(1);
    const last = feed(srv, concat(toClient.sent[0], hex("04 000000")), cut);

    expect(last.done).toBe(true);
    expect(last.rest).toEqual(hex("04 000000"));
    expect(client.s2MatchesC1).toBe(true);
    expect(srv.c2MatchesS1).toBe(true);
  });
});
