import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ChunkReader, type ChunkReaderLimits, type PayloadStore } from "../../src/protocol/chunk-reader.ts";
import { ChunkWriter, copySelfContained, encodeMessage, selfContainedSize } from "../../src/protocol/chunk-writer.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import type { RtmpMessage } from "../../src/protocol/message.ts";
import { concat, ramp } from "../../support/bytes.ts";
import { hex, toHex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

function readAll(bytes: Uint8Array | Uint8Array[], limits?: Partial<ChunkReaderLimits>): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  const reader = new ChunkReader((m) => out.push({ ...m, payload: m.payload.slice() }), limits);
  for (const slice of Array.isArray(bytes) ? bytes : [bytes]) reader.push(slice);
  return out;
}

function msg(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array): RtmpMessage {
  return { csid, type, streamId, timestamp, payload };
}

function plain(m: RtmpMessage) {
  return { csid: m.csid, type: m.type, streamId: m.streamId, timestamp: m.timestamp, payload: toHex(m.payload) };
}

/** Reference golden vectors (reference-server.md Part 2 §P2.2), as bytes. */
const golden = {
  fmt0Audio: concat(hex("04 0003E8 000040 08 01000000"), ramp(0x00, 64)),
  fmt1Video: concat(hex("46 000028 000050 09"), ramp(0xa0, 80)),
  fmt2Delta: concat(hex("84 000021"), ramp(0x40, 64)),
  fmt3Continuation: concat(hex("C6"), ramp(0xc0, 128)),
  extended: concat(hex("04 FFFFFF 000040 08 01000000 01312D00"), ramp(0x80, 64)),
};

describe("ChunkReader on the reference's golden vectors", () => {
  it("reads an FMT0 audio chunk: csid 4, ts 1000, 64 bytes, stream 1 (little-endian)", () => {
    expect(readAll(golden.fmt0Audio).map(plain)).toEqual([plain(msg(4, 8, 1, 1000, ramp(0, 64)))]);
  });

  it("reads an FMT2 chunk as the previous length, type and stream plus a delta", () => {
    const out = readAll(concat(golden.fmt0Audio, golden.fmt2Delta));
    expect(out.map(plain)[1]).toEqual(plain(msg(4, 8, 1, 1033, ramp(0x40, 64))));
  });

  it("reads an FMT1 chunk with a delta, keeping the stream id, and an FMT3 continuation", () => {
    const start = concat(hex("06 000064 000080 09 01000000"), ramp(0, 128));
    // Message 1 (128 bytes, one chunk), then FMT1 80 bytes delta 40.
    const out = readAll(concat(start, golden.fmt1Video));
    expect(out.map(plain)).toEqual([plain(msg(6, 9, 1, 100, ramp(0, 128))), plain(msg(6, 9, 1, 140, ramp(0xa0, 80)))]);
    const twoChunks = concat(hex("06 000000 000100 09 01000000"), ramp(0x40, 128), golden.fmt3Continuation);
    expect(readAll(twoChunks).map(plain)).toEqual([plain(msg(6, 9, 1, 0, concat(ramp(0x40, 128), ramp(0xc0, 128))))]);
  });

  it("reads an extended timestamp of 20,000,000 ms", () => {
    expect(readAll(golden.extended).map(plain)).toEqual([plain(msg(4, 8, 1, 20_000_000, ramp(0x80, 64)))]);
  });

  it("reassembles two interleaved 256-byte messages at chunk size 128", () => {
    const audio = ramp(0x00, 256);
    const video = Uint8Array.from({ length: 256 }, (_, i) => (0x90 + i) & 0xff);
    const wire = concat(
      hex("04 0007D0 000100 08 01000000"),
      audio.subarray(0, 128),
      hex("06 0007D0 000100 09 01000000"),
      video.subarray(0, 128),
      hex("C4"),
      audio.subarray(128),
      hex("C6"),
      video.subarray(128),
    );
    expect(wire.length).toBe(538);
    expect(readAll(wire).map(plain)).toEqual([plain(msg(4, 8, 1, 2000, audio)), plain(msg(6, 9, 1, 2000, video))]);
  });
});

describe("ChunkReader header semantics", () => {
  it("decodes 1-, 2- and 3-byte basic headers", () => {
    const cases: [number, string][] = [
      [2, "02"],
      [63, "3F"],
      [64, "00 00"],
      [319, "00 FF"],
      [320, "01 00 01"],
      [65599, "01 FF FF"],
    ];
    for (const [csid, basic] of cases) {
      const wire = concat(hex(basic), hex("000005 000002 14 00000000"), hex("AABB"));
      expect(readAll(wire).map(plain)).toEqual([plain(msg(csid, 20, 0, 5, hex("AABB")))]);
    }
  });

  it("accepts FMT2 on a stream-0 chunk stream (the reference drops the connection)", () => {
    const wire = concat(hex("03 000000 000002 14 00000000 0102"), hex("83 000010 0304"));
    expect(readAll(wire).map(plain)).toEqual([plain(msg(3, 20, 0, 0, hex("0102"))), plain(msg(3, 20, 0, 16, hex("0304")))]);
  });

  it("repeats the previous delta when FMT3 starts a new message", () => {
    const wire = concat(
      hex("06 000064 000001 09 01000000 AA"), // ts 100
      hex("46 000021 000001 09 BB"), // FMT1 delta 33 -> 133
      hex("C6 CC"), // FMT3 new message -> 166 (the reference gives 133)
      hex("C6 DD"), // -> 199
    );
    expect(readAll(wire).map((m) => m.timestamp)).toEqual([100, 133, 166, 199]);
  });

  it("keeps the timestamp when FMT3 follows FMT0: there is no delta to repeat", () => {
    const wire = concat(hex("06 000064 000001 09 01000000 AA"), hex("C6 BB"));
    expect(readAll(wire).map((m) => m.timestamp)).toEqual([100, 100]);
  });

  it("reads extended timestamps on FMT3 continuations and on FMT3 new messages", () => {
    const wire = concat(
      hex("04 FFFFFF 000003 08 01000000 01000000 AA BB"), // ts 0x01000000, 3 bytes at chunk size... first 2 bytes
    );
    const setChunkSize2 = hex("02 000000 000004 01 00000000 00000002");
    const rest = concat(hex("C4 01000000 CC"), hex("44 FFFFFF 000001 08 01000001 DD"), hex("C4 01000001 EE"));
    const out = readAll(concat(setChunkSize2, wire, rest));
    expect(out.slice(1).map(plain)).toEqual([
      plain(msg(4, 8, 1, 0x01000000, hex("AABBCC"))),
      plain(msg(4, 8, 1, 0x02000001, hex("DD"))),
      plain(msg(4, 8, 1, 0x03000002, hex("EE"))),
    ]);
  });

  it("wraps timestamps modulo 2^32", () => {
    const wire = concat(hex("04 FFFFFF 000001 08 01000000 FFFFFFF0 AA"), hex("84 000020 BB"));
    expect(readAll(wire).map((m) => m.timestamp)).toEqual([0xfffffff0, 0x10]);
  });

  it("applies a peer Set Chunk Size up to 2^31-1 to the chunks that follow", () => {
    const big = ramp(0, 70000);
    const wire = concat(hex("02 000000 000004 01 00000000 7FFFFFFF"), hex("06 000000 011170 09 01000000"), big);
    const out = readAll(wire);
    expect(out).toHaveLength(2);
    expect(out[1].payload).toEqual(big);
  });

  it("rejects a Set Chunk Size of 0 or with bit 31 set", () => {
    expect(() => readAll(hex("02 000000 000004 01 00000000 00000000"))).toThrow(ProtocolError);
    expect(() => readAll(hex("02 000000 000004 01 00000000 80000000"))).toThrow(ProtocolError);
  });

  it("discards the partial message named by an Abort", () => {
    const wire = concat(
      hex("06 000000 000100 09 01000000"),
      ramp(0, 128), // first half of a 256-byte message
      hex("02 000000 000004 02 00000000 00000006"), // Abort csid 6
      hex("06 000005 000002 09 01000000 EEFF"), // a fresh message on csid 6
    );
    const out = readAll(wire);
    expect(out.map((m) => m.type)).toEqual([2, 9]);
    expect(plain(out[1])).toEqual(plain(msg(6, 9, 1, 5, hex("EEFF"))));
  });

  it("delivers a single-chunk message as a view into the slice, without copying", () => {
    const wire = concat(golden.fmt0Audio, golden.fmt2Delta);
    const views: Uint8Array[] = [];
    new ChunkReader((m) => views.push(m.payload)).push(wire);
    expect(views).toHaveLength(2);
    for (const v of views) expect(v.buffer).toBe(wire.buffer);
  });

  it("assembles a multi-chunk message in room its store gives, releasing the room once delivered or abandoned", () => {
    const events: string[] = [];
    const store: PayloadStore = {
      reserve(type, streamId, length) {
        if (type !== 9) return null;
        const n = events.push(`reserve ${streamId}:${length}`);
        return { bytes: new Uint8Array(length), release: () => events.push(`release ${n}`) };
      },
    };
    const delivered: RtmpMessage[] = [];
    const reader = new ChunkReader((m) => {
      events.push(`deliver ${m.type}`);
      delivered.push(m);
    }, {}, store);
    const video = ramp(0, 300);
    const audio = ramp(9, 200);
    // Video and audio of 300 and 200 bytes at chunk size 128, split across slices: only the video is stored.
    const wire = concat(
      encodeMessage(msg(6, 9, 1, 40, video), 128),
      encodeMessage(msg(4, 8, 1, 41, audio), 128),
    );
    reader.push(wire.subarray(0, 100));
    reader.push(wire.subarray(100));
    expect(events).toEqual(["reserve 1:300", "deliver 9", "release 1", "deliver 8"]);
    // The stored payload is the store's room itself, and the message says so.
    expect(delivered[0].payload).toBe(delivered[0].stored!.bytes);
    expect(toHex(delivered[0].payload)).toBe(toHex(video));
    expect(delivered[1].stored).toBeUndefined();
    expect(toHex(delivered[1].payload)).toBe(toHex(audio));
    // A message cut short by a new full header, or left unfinished when the reader closes, gives its room back.
    events.length = 0;
    const cut = encodeMessage(msg(6, 9, 1, 80, video), 128);
    reader.push(cut.subarray(0, 12 + 128)); // header and first chunk

    reader.push(encodeMessage(msg(6, 9, 1, 90, hex("1700")), 128));
    reader.push(cut.subarray(0, 50));
    reader.close();
    expect(events).toEqual(["reserve 1:300", "release 1", "deliver 9", "reserve 1:300", "release 4"]);
  });

  it("delivers nothing for zero-length messages but keeps their header state", () => {
    const wire = concat(hex("04 000010 000000 08 01000000"), hex("84 000010"), hex("44 000010 000001 08 AA"));
    expect(readAll(wire).map((m) => [m.timestamp, toHex(m.payload)])).toEqual([[48, "aa"]]);
  });
});

describe("ChunkReader limits", () => {
  it("refuses a message larger than maxMessageSize before allocating it", () => {
    const wire = hex("06 000000 FFFFFF 09 01000000");
    let err: unknown;
    try {
      readAll(wire, { maxMessageSize: 1024 * 1024 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).rule).toBe("chunk.max-message-size");
  });

  it("refuses more chunk streams than maxChunkStreams", () => {
    const parts: Uint8Array[] = [];
    for (let csid = 2; csid < 12; csid++) parts.push(concat(hex((csid).toString(16).padStart(2, "0")), hex("000000 000001 09 01000000 AA")));
    expect(() => readAll(concat(...parts), { maxChunkStreams: 8 })).toThrow("chunk.max-chunk-streams");
  });

  it("refuses partial messages that together exceed maxPartialBytes", () => {
    // Two 60 KB messages each started but not finished.
    const wire = concat(hex("06 000000 00EA60 09 01000000"), ramp(0, 128), hex("07 000000 00EA60 09 01000000"), ramp(0, 128));
    expect(() => readAll(wire, { maxPartialBytes: 100_000 })).toThrow("chunk.max-partial-bytes");
    expect(readAll(wire, { maxPartialBytes: 120_000 })).toHaveLength(0);
  });

  it("refuses FMT1-3 on a chunk stream with no prior header", () => {
    for (const h of ["46 000000 000001 09 AA", "86 000000 AA", "C6 AA"]) {
      expect(() => readAll(hex(h))).toThrow("chunk.no-prior-header");
    }
  });
});

describe("encodeMessage (stateless, shared by every subscriber)", () => {
  it("encodes the reference's FMT0 audio golden byte for byte", () => {
    expect(toHex(encodeMessage(msg(4, 8, 1, 1000, ramp(0, 64)), 128))).toBe(toHex(golden.fmt0Audio));
  });

  it("encodes the extended-timestamp golden and repeats the extension on continuations", () => {
    expect(toHex(encodeMessage(msg(4, 8, 1, 20_000_000, ramp(0x80, 64)), 128))).toBe(toHex(golden.extended));
    const two = encodeMessage(msg(4, 8, 1, 20_000_000, ramp(0, 3)), 2);
    expect(toHex(two)).toBe(toHex(hex("04 FFFFFF 000003 08 01000000 01312D00 0001 C4 01312D00 02")));
  });

  it("cuts a 300-byte message at chunk size 128 into 128+128+44 with C6 continuations", () => {
    const out = encodeMessage(msg(6, 9, 1, 0, ramp(0, 300)), 128);
    expect(out.length).toBe(12 + 128 + 1 + 128 + 1 + 44);
    expect(out[12 + 128]).toBe(0xc6);
    expect(out[12 + 128 + 1 + 128]).toBe(0xc6);
  });

  it("writes 2- and 3-byte basic headers", () => {
    expect(toHex(encodeMessage(msg(64, 20, 0, 0, hex("AA")), 128).subarray(0, 2))).toBe("0000");
    expect(toHex(encodeMessage(msg(65599, 20, 0, 0, hex("AA")), 128).subarray(0, 3))).toBe("01ffff");
  });
});

describe("copySelfContained (a message laid out as chunks while it is copied)", () => {
  it("copies any byte range of what encodeMessage returns, at every chunk size and timestamp form", () => {
    const random = mulberry32(7);
    for (let round = 0; round < 300; round++) {
      const csid = [2, 6, 63, 64, 319, 320, 65599][Math.floor(random() * 7)];
      const timestamp = random() < 0.3 ? 0xffffff + Math.floor(random() * 1000) : Math.floor(random() * 0xfffff);
      const m = msg(csid, 9, 1 + Math.floor(random() * 3), timestamp, ramp(round & 0xff, Math.floor(random() * 3000)));
      const chunkSize = 1 + Math.floor(random() * 700);
      const whole = encodeMessage(m, chunkSize);
      expect(selfContainedSize(m.csid, m.timestamp, m.payload.length, chunkSize)).toBe(whole.length);
      const from = Math.floor(random() * whole.length);
      const max = Math.floor(random() * (whole.length - from + 10));
      const out = new Uint8Array(max + 4).fill(0xee);
      const n = copySelfContained(m.csid, m.type, m.streamId, m.timestamp, m.payload, chunkSize, out, 2, from, max);
      expect(n).toBe(Math.min(max, whole.length - from));
      expect(toHex(out.subarray(2, 2 + n))).toBe(toHex(whole.subarray(from, from + n)));
      expect(out[0]).toBe(0xee);
      expect(out[2 + n]).toBe(0xee);
    }
  });
});

describe("ChunkWriter (per-connection header compression)", () => {
  it("chooses FMT0, then FMT2 for the same shape, FMT3 for a repeated delta, FMT1 for a new length", () => {
    const w = new ChunkWriter();
    const a = w.encode(msg(4, 8, 1, 1000, ramp(0, 4)));
    const b = w.encode(msg(4, 8, 1, 1023, ramp(0, 4)));
    const c = w.encode(msg(4, 8, 1, 1046, ramp(0, 4)));
    const d = w.encode(msg(4, 8, 1, 1069, ramp(0, 5)));
    expect(toHex(a)).toBe(toHex(hex("04 0003E8 000004 08 01000000 00010203")));
    expect(toHex(b)).toBe(toHex(hex("84 000017 00010203")));
    expect(toHex(c)).toBe(toHex(hex("C4 00010203")));
    expect(toHex(d)).toBe(toHex(hex("44 000017 000005 08 0001020304")));
  });

  it("puts the delta, not the absolute timestamp, in FMT1/2 headers past 0xFFFFFF (reference bug)", () => {
    const w = new ChunkWriter();
    w.encode(msg(4, 8, 1, 0x1000000, ramp(0, 2)));
    expect(toHex(w.encode(msg(4, 8, 1, 0x1000021, ramp(0, 2))))).toBe(toHex(hex("84 000021 0001")));
    expect(toHex(w.encode(msg(4, 8, 1, 0x1000042, ramp(0, 3))))).toBe(toHex(hex("44 000021 000003 08 000102")));
  });

  it("sends a full header when the stream id changes (FMT1 would lose it)", () => {
    const w = new ChunkWriter();
    w.encode(msg(5, 20, 1, 0, ramp(0, 2)));
    expect(w.encode(msg(5, 20, 2, 0, ramp(0, 2)))[0]).toBe(0x05);
  });

  it("never starts a message with FMT3 right after FMT0 (readers disagree on that delta)", () => {
    const w = new ChunkWriter();
    w.encode(msg(4, 8, 1, 0, ramp(0, 2)));
    expect(w.encode(msg(4, 8, 1, 0, ramp(0, 2)))[0] >>> 6).toBe(2);
  });
});

describe("chunk layer properties (seeded)", () => {
  function randomMessages(rand: () => number, count: number): RtmpMessage[] {
    const out: RtmpMessage[] = [];
    const ts = new Map<number, number>();
    const csids = [3, 4, 5, 6, 7, 63, 64, 300, 320, 65599];
    for (let i = 0; i < count; i++) {
      const csid = csids[Math.floor(rand() * csids.length)];
      const r = rand();
      let t = ts.get(csid) ?? Math.floor(rand() * 0x1000);
      // Mostly small steps, sometimes repeats, jumps past 24 bits, backwards steps and wraps.
      if (r < 0.6) t += Math.floor(rand() * 50);
      else if (r < 0.7) t += 0;
      else if (r < 0.8) t += 0x1000000 + Math.floor(rand() * 5);
      else if (r < 0.9) t -= Math.floor(rand() * 100);
      else t = 0xffffff00 + Math.floor(rand() * 0x200);
      t >>>= 0;
      ts.set(csid, t);
      const len = rand() < 0.3 ? Math.floor(rand() * 3) : Math.floor(rand() * 9000);
      const payload = new Uint8Array(len);
      for (let j = 0; j < len; j++) payload[j] = (rand() * 256) | 0;
      out.push(msg(csid, rand() < 0.5 ? 8 : 9, rand() < 0.8 ? 1 : 2, t, payload));
    }
    return out;
  }

  function slices(rand: () => number, wire: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let at = 0; at < wire.length; ) {
      const n = rand() < 0.3 ? 1 + Math.floor(rand() * 20) : 1 + Math.floor(rand() * 20000);
      out.push(wire.subarray(at, at + n));
      at += n;
    }
    return out;
  }

  it("random messages at random chunk sizes, fed in random slices, come out identical", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rand = mulberry32(seed);
      const messages = randomMessages(rand, 80);
      const chunkSize = [1, 2, 7, 128, 4096, 65536][seed % 6];
      const writer = new ChunkWriter();
      const stateless = rand() < 0.5;
      const parts: Uint8Array[] = [];
      if (chunkSize !== 128) {
        const scs = msg(2, 1, 0, 0, Uint8Array.of(chunkSize >>> 24, chunkSize >>> 16, chunkSize >>> 8, chunkSize));
        parts.push(writer.encode(scs));
      }
      writer.chunkSize = chunkSize;
      for (const m of messages) parts.push(stateless ? encodeMessage(m, chunkSize) : writer.encode(m));
      const out = readAll(slices(rand, concat(...parts))).filter((m) => m.type !== 1);
      expect(out.map(plain)).toEqual(messages.filter((m) => m.payload.length > 0).map(plain));
    }
  });

  it("random garbage and mutated streams throw nothing but ProtocolError, within the limits", () => {
    const limits = { maxMessageSize: 64 * 1024, maxChunkStreams: 16, maxPartialBytes: 256 * 1024 };
    for (let seed = 1; seed <= 3000; seed++) {
      const rand = mulberry32(seed * 7919);
      let wire: Uint8Array;
      if (seed % 2 === 0) {
        wire = new Uint8Array(Math.floor(rand() * 2000));
        for (let i = 0; i < wire.length; i++) wire[i] = (rand() * 256) | 0;
      } else {
        const w = new ChunkWriter();
        wire = concat(...randomMessages(rand, 5).map((m) => w.encode(m)));
        for (let k = 0; k < 1 + rand() * 8; k++) wire[Math.floor(rand() * wire.length)] ^= 1 << Math.floor(rand() * 8);
      }
      try {
        readAll(slices(rand, wire), limits);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw new Error(`seed ${seed}: ${e}`);
      }
    }
  });

  it("replays every chunk input kept in test/corpus without anything but ProtocolError", () => {
    const dir = join(import.meta.dir, "../corpus");
    const files = readdirSync(dir).filter((f) => f.startsWith("chunk-"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      try {
        readAll(new Uint8Array(readFileSync(join(dir, f))), { maxMessageSize: 1024 * 1024 });
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
      }
    }
  });
});
