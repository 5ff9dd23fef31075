import { describe, expect, it } from "bun:test";
import {
  audioFourCc,
  audioPacketType,
  fourCcCode,
  isExAudio,
  isExVideo,
  PacketType,
  readExHeader,
  VideoFrameType,
  videoFourCc,
  videoFrameType,
  videoPacketType,
} from "../../src/media/ex-header.ts";
import { hex, toHex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

// [what, payload, [packet type, FourCC, first track's body, multitrack]] or null when the payload ends first.
const video: [string, string, [number, string, string, boolean] | null][] = [
  ["CodedFrames", '91 "hvc1" 000021 AABB', [1, "hvc1", "000021aabb", false]],
  ["CodedFramesX", 'A3 "hvc1" AABB', [3, "hvc1", "aabb", false]],
  ["SequenceStart with an empty body", '90 "vp09"', [0, "vp09", "", false]],
  ["ModEx (a 3-byte nanosecond offset) then CodedFrames", '97 02 0003E8 01 "av01" CC', [1, "av01", "cc", false]],
  ["ModEx with a 16-bit size", '97 FF 0002 0003E8 00 "vp09" 01', [0, "vp09", "01", false]],
  ["two ModEx blocks", '97 00 AA 07 01 BBCC 01 "avc1" DD', [1, "avc1", "dd", false]],
  ["multitrack OneTrack", '96 00 "hvc1" 00 0160', [0, "hvc1", "0160", true]],
  ["multitrack ManyTracks: the first track only", '96 11 "av01" 00 000003 0A0B0C 01 000001 0D', [1, "av01", "0a0b0c", true]],
  ["multitrack ManyTracksManyCodecs", '96 20 "avc1" 00 000002 0164 "hvc1" 01 000001 FF', [0, "avc1", "0164", true]],
  ["multitrack track size past the end: what there is", '96 11 "av01" 00 000009 0A0B', [1, "av01", "0a0b", true]],
  ["ModEx then multitrack", '97 02 0003E8 06 00 "hvc1" 00 AA', [0, "hvc1", "aa", true]],
  ["a FourCC cut off", "90 6876", null],
  ["ModEx cut off in its data", "97 05 0003", null],
  ["ModEx cut off before its packet type", "97 02 0003E8", null],
  ["ModEx cut off in its 16-bit size", "97 FF 00", null],
  ["multitrack with no layout byte", "96", null],
  ["multitrack OneTrack with no track id", '96 00 "hvc1"', null],
  ["multitrack ManyTracks cut off in the track size", '96 11 "av01" 00 0000', null],
];

const audio: [string, string, [number, string, string, boolean] | null][] = [
  ["CodedFrames", '91 "Opus" FCFFFE', [1, "Opus", "fcfffe", false]],
  ["SequenceEnd", '92 "ec-3"', [2, "ec-3", "", false]],
  ["multitrack OneTrack SequenceStart", '95 00 "Opus" 00 "Op"', [0, "Opus", "4f70", true]],
  ["multitrack ManyTracks", '95 11 "mp4a" 00 000002 2100 01 000001 FF', [1, "mp4a", "2100", true]],
  ["ModEx then SequenceStart", '97 02 0003E8 00 "fLaC" AA', [0, "fLaC", "aa", false]],
  ["a FourCC cut off", "91 4F70", null],
];

function read(payload: string, multitrack: number): [number, string, string, boolean] | null {
  const header = readExHeader(hex(payload), multitrack);
  return header === null ? null : [header.packetType, header.fourCc, toHex(header.body), header.multitrack];
}

describe("readExHeader", () => {
  for (const [what, payload, expected] of video) {
    it(`reads a video ${what}`, () => expect(read(payload, PacketType.VideoMultitrack)).toEqual(expected));
  }
  for (const [what, payload, expected] of audio) {
    it(`reads an audio ${what}`, () => expect(read(payload, PacketType.AudioMultitrack)).toEqual(expected));
  }

  it("agrees with the packet type and FourCC lookups on random payloads, and never throws", () => {
    const rand = mulberry32(14);
    for (let i = 0; i < 20_000; i++) {
      const payload = Uint8Array.from({ length: Math.floor(rand() * 24) }, () => Math.floor(rand() * 256));
      // Bias the first byte toward the wrappers (ModEx, multitrack), where the walking happens.
      if (payload.length > 0 && rand() < 0.5) payload[0] = [0x96, 0x97, 0x95, 0xa7][Math.floor(rand() * 4)];
      const command = videoFrameType(payload) === VideoFrameType.Command;
      for (const [multitrack, packetType, code] of [
        [PacketType.VideoMultitrack, videoPacketType, videoFourCc],
        [PacketType.AudioMultitrack, audioPacketType, audioFourCc],
      ] as const) {
        const header = readExHeader(payload, multitrack);
        if (header !== null && !(command && multitrack === PacketType.VideoMultitrack)) {
          expect([packetType(payload), code(payload)]).toEqual([header.packetType, fourCcCode(header.fourCc)]);
        }
        if (code(payload) === -1 && !command) expect(header).toBeNull();
      }
    }
  });
});

describe("packet type and FourCC without a header object", () => {
  // [what, payload, packet type, FourCC]
  const cases: [string, string, number, number][] = [
    ["SequenceEnd", '92 "av01"', PacketType.SequenceEnd, 0x61763031],
    ["MPEG2TSSequenceStart", '95 "av01" 80', PacketType.MPEG2TSSequenceStart, 0x61763031],
    ["multitrack: the packet type in the layout byte", '96 11 "hvc1" 00', PacketType.CodedFrames, 0x68766331],
    ["ModEx then SequenceStart", '97 02 0003E8 00 "vp09"', PacketType.SequenceStart, 0x76703039],
    ["a command frame: no FourCC", "D0 00 00000000", -1, -1],
    ["a command frame carrying Metadata", 'D4 "hvc1" 02', PacketType.Metadata, 0x68766331],
    ["a FourCC cut off", "90 687663", -1, -1],
  ];
  for (const [what, payload, packetType, code] of cases) {
    it(`reads a video ${what}`, () => {
      expect(videoPacketType(hex(payload))).toBe(packetType);
      expect(videoFourCc(hex(payload))).toBe(code);
    });
  }

  it("reads audio, where 5 is multitrack and a command frame does not exist", () => {
    expect(audioPacketType(hex('95 00 "Opus" 00'))).toBe(PacketType.SequenceStart);
    expect(audioFourCc(hex('95 00 "Opus" 00'))).toBe(0x4f707573);
    expect(audioPacketType(hex('D1 "Opus"'))).toBe(PacketType.CodedFrames);
    expect(audioFourCc(hex("97 05 0003"))).toBe(-1);
  });

  it("codes a FourCC as its four bytes, big-endian", () => {
    expect(fourCcCode("hvc1")).toBe(0x68766331);
    expect(fourCcCode(".mp3")).toBe(0x2e6d7033);
    // Any byte, as readExHeader spells it (one character per byte).
    expect(fourCcCode(String.fromCharCode(0xff, 0x00, 0x80, 0x01))).toBe(0xff008001);
  });
});

describe("header marks", () => {
  it("tells an Enhanced video header by its top bit, and reads the frame type in either form", () => {
    // [byte 0, Enhanced, frame type]
    const cases: [number, boolean, number][] = [
      [0x17, false, 1],
      [0x27, false, 2],
      [0x57, false, 5],
      [0x90, true, 1],
      [0xa1, true, 2],
      [0xd0, true, 5],
    ];
    for (const [byte, ex, frameType] of cases) {
      expect([isExVideo(Uint8Array.of(byte)), videoFrameType(Uint8Array.of(byte))]).toEqual([ex, frameType]);
    }
  });

  it("tells an Enhanced audio header by sound format 9", () => {
    expect(isExAudio(hex("90"))).toBe(true);
    expect(isExAudio(hex("9F"))).toBe(true);
    expect(isExAudio(hex("AF"))).toBe(false);
    expect(isExAudio(hex("2F"))).toBe(false);
  });
});
