import { describe, expect, it } from "bun:test";
import { type AudioDetails, type VideoDetails, audioDetails, videoDetails } from "../../src/media/codec-details.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { hex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

const HEVC_1080 = VIDEO.find((v) => v.what.startsWith("H.265 Main 1920x1080"))!;
const AVC_1080 = VIDEO.find((v) => v.what.startsWith("H.264 High 1920x1080"))!;
const AV1_1080 = VIDEO.find((v) => v.what.startsWith("AV1 Main 1920x1080"))!;
const OPUS_HEAD = AUDIO.find((a) => a.what.includes("RFC 7845"))!;

/** The record in a vector, as hex: after `90 "xxxx"` (Enhanced RTMP) or `17 00 000000` (legacy), 5 bytes both. */
function record(payload: string): string {
  return Buffer.from(hex(payload).subarray(5)).toString("hex");
}

describe("video details from real encoders' sequence headers", () => {
  for (const v of VIDEO) {
    it(`reads ${v.what}`, () => {
      expect(videoDetails(hex(v.payload))).toEqual(v.details);
    });
  }
});

describe("audio details from real encoders' headers and frames", () => {
  for (const a of AUDIO) {
    it(`reads ${a.what}`, () => {
      expect(audioDetails(hex(a.payload))).toEqual(a.details);
    });
  }
});

describe("the same records in other wrappings", () => {
  it("reads an AVC record sent as an Enhanced RTMP avc1 sequence start", () => {
    expect(videoDetails(hex(`90 "avc1" ${record(AVC_1080.payload)}`))).toEqual(AVC_1080.details);
  });

  it("reads an hvcC sent with the legacy non-standard HEVC codec id 12", () => {
    expect(videoDetails(hex(`1c 00 000000 ${record(HEVC_1080.payload)}`))).toEqual(HEVC_1080.details);
  });

  it("reads the first track of a multitrack OneTrack sequence start", () => {
    // 0x96: keyframe, packet type Multitrack; 00: OneTrack | SequenceStart; FourCC; track id 0.
    expect(videoDetails(hex(`96 00 "av01" 00 ${record(AV1_1080.payload)}`))).toEqual(AV1_1080.details);
  });

  it("reads the first track of a ManyTracks sequence start, bounded by its track size", () => {
    const av1c = record(AV1_1080.payload); // 17 bytes
    const other = "81 00 0c 00"; // a second, smaller track that must not be read into the first
    expect(videoDetails(hex(`96 10 "av01" 00 000011 ${av1c} 01 000004 ${other}`))).toEqual(AV1_1080.details);
  });

  it("reads a sequence start behind a ModEx block (nanosecond timestamp offset)", () => {
    // 0x97: keyframe, ModEx; data size 2+1; 3 bytes of offset; 00: TimestampOffsetNano | SequenceStart.
    expect(videoDetails(hex(`97 02 0003e8 00 "hvc1" ${record(HEVC_1080.payload)}`))).toEqual(HEVC_1080.details);
  });

  it("reads an AudioSpecificConfig sent as an Enhanced RTMP mp4a sequence start", () => {
    const lc = { codec: "AAC", profile: "LC", sampleRate: 44100, channels: 2 };
    expect(audioDetails(hex('90 "mp4a" 121056e500'))).toEqual(lc);
  });

  it("reads an Opus ID header in a multitrack OneTrack audio message", () => {
    const head = hex(OPUS_HEAD.payload).subarray(5);
    expect(audioDetails(hex(`95 00 "Opus" 00 ${Buffer.from(head).toString("hex")}`))).toEqual(OPUS_HEAD.details);
  });
});

describe("headers no encoder here writes (bytes derived by hand from the specifications)", () => {
  it("reads an H.264 SPS with scaling lists, pic_order_cnt_type 1 and frame cropping", () => {
    // High@3.1, 4:2:0 8-bit, seq_scaling_matrix_present: list 0 ends at once (delta -8 → next 0), list 2 has 16
    // deltas of +1, list 6 (8x8) 64 deltas of 0; poc type 1 with offsets -2, +1 and a cycle of 2 (+1, +2);
    // 80x45 macroblocks, frame_mbs_only, crop right 2 and bottom 4 (units of 2): 1280-4 by 720-8.
    const sps = "6764001fad8454924924924921ffffffffffffffff50a9a22014016fb950";
    expect(videoDetails(hex(`17 00 000000 01 64001f ff e1 001e ${sps}`))).toEqual({
      codec: "H264",
      profile: "High",
      level: "3.1",
      width: 1276,
      height: 712,
      bitDepth: 8,
      chroma: "4:2:0",
    });
  });

  it("reads profile and level 1b from an AVC record without an SPS", () => {
    // Baseline with constraint_set0/1/3 and level_idc 11: level 1b in the profiles that predate level_idc 9.
    expect(videoDetails(hex("17 00 000000 01 42d00b ffe0"))).toEqual({
      codec: "H264",
      profile: "Constrained Baseline",
      level: "1b",
    });
  });

  // [what, AudioSpecificConfig, profile, sample rate, channels]
  const aac: [string, string, string, number | undefined, number][] = [
    // AOT 5 | rate index 6 (24 kHz core) | 2 channels | extension rate index 3 (48 kHz) | AOT 2 | GA flags 000
    ["HE-AAC, hierarchical signalling", "2b118800", "HE-AAC", 48000, 2],
    // AOT 29 | 24 kHz | 1 channel | 48 kHz | AOT 2 | 000: parametric stereo makes the mono core two channels
    ["HE-AACv2, hierarchical signalling", "eb098800", "HE-AACv2", 48000, 2],
    // AOT 2 | 24 kHz | 2 ch | 000 | sync 0x2b7 | AOT 5 | sbrPresentFlag 1 | extension rate index 3
    ["HE-AAC, backward-compatible signalling", "131056e598", "HE-AAC", 48000, 2],
    // ... 1 channel, then sync 0x548 | psPresentFlag 1
    ["HE-AACv2, backward-compatible signalling", "130856e59d4880", "HE-AACv2", 48000, 2],
    // AOT escape 31 + 10 = 42 (USAC) | 48 kHz | 2 ch
    ["xHE-AAC through the object type escape", "f94640", "xHE-AAC", 48000, 2],
    // AOT 2 | index 15, then 44100 in 24 bits | 2 ch | 000
    ["LC with an explicit 24-bit sampling frequency", "1780562210", "LC", 44100, 2],
    // AOT 2 | reserved index 13 | 2 ch: no rate to report
    ["LC with a reserved sampling frequency index", "1690", "LC", undefined, 2],
  ];
  for (const [what, asc, profile, sampleRate, channels] of aac) {
    it(`reads ${what}`, () => {
      const details: AudioDetails = { codec: "AAC", profile, channels };
      if (sampleRate !== undefined) details.sampleRate = sampleRate;
      expect(audioDetails(hex(`af 00 ${asc}`))).toEqual(details);
    });
  }
});

describe("messages that do not describe the stream", () => {
  const video: [string, string][] = [
    ["an AVC coded frame", "27 01 000042 00000003 419a"],
    ["an AVC end of sequence", "17 02 000000"],
    ["an Enhanced RTMP coded frame", '91 "hvc1" 000000 00000005 2601'],
    ["an Enhanced RTMP sequence end", '92 "av01"'],
    ["an Enhanced RTMP sequence start of an unknown FourCC", '90 "xxxx" 00'],
    ["a video command frame", "57 00"],
    ["a legacy VP6 keyframe (VP6 has no sequence header)", "14 00 0000"],
    ["an empty payload", ""],
  ];
  for (const [what, payload] of video) {
    it(`gives no video details for ${what}`, () => {
      expect(videoDetails(hex(payload))).toBeNull();
    });
  }

  const audio: [string, string][] = [
    ["an AAC raw frame", "af 01 2100"],
    ["an Enhanced RTMP Opus coded frame", '91 "Opus" fcfffe'],
    ["an Enhanced RTMP AAC coded frame", '91 "mp4a" 2100'],
    ["an Enhanced RTMP sequence end", '92 "Opus"'],
    ["an Enhanced RTMP multichannel config", '94 "Opus" 01 02'],
    ["a reserved sound format", "d0 00"],
    ["an empty payload", ""],
  ];
  for (const [what, payload] of audio) {
    it(`gives no audio details for ${what}`, () => {
      expect(audioDetails(hex(payload))).toBeNull();
    });
  }
});

describe("headers too damaged to read still name the codec", () => {
  const video: [string, string, VideoDetails][] = [
    ["an hvcC with a wrong configurationVersion", '90 "hvc1" 02 0160', { codec: "H265" }],
    ["an AVC record cut in its SPS", "17 00 000000 01640028ffe1001b6764", { codec: "H264", profile: "High", level: "4.0" }],
    ["an av1C without its marker bit", '90 "av01" 01080c00', { codec: "AV1" }],
    ["a vpcC with an impossible bit depth", '90 "vp09" 001f320202020000', { codec: "VP9" }],
    ["a VVC sequence start (not parsed)", '90 "vvc1" 00', { codec: "H266" }],
  ];
  for (const [what, payload, details] of video) {
    it(`reads ${what} as ${JSON.stringify(details)}`, () => {
      expect(videoDetails(hex(payload))).toEqual(details);
    });
  }

  const audio: [string, string, AudioDetails][] = [
    ["an AC-3 sequence start (FFmpeg sends it empty)", '90 "ac-3"', { codec: "AC3" }],
    ["an AC-3 frame without its sync word", '91 "ac-3" 0000 5c511e40ebf8', { codec: "AC3" }],
    ["an Opus ID header cut short", '90 "Opus" 4f70757348656164010238', { codec: "Opus" }],
    ["a FLAC header whose first block is not STREAMINFO", '90 "fLaC" 664c614304000022', { codec: "FLAC" }],
    ["an AudioSpecificConfig of one byte", "af 00 12", { codec: "AAC" }],
    ["an MP3 frame with no frame header (flags)", "2e 0000", { codec: "MP3", sampleRate: 44100, channels: 1 }],
  ];
  for (const [what, payload, details] of audio) {
    it(`reads ${what} as ${JSON.stringify(details)}`, () => {
      expect(audioDetails(hex(payload))).toEqual(details);
    });
  }
});

/** No NaN, no negative or fractional sizes, nothing absurd: what a misparse would leak. */
function expectSane(d: VideoDetails | AudioDetails | null): void {
  if (d === null) return;
  expect(typeof d.codec).toBe("string");
  for (const [key, value] of Object.entries(d)) {
    if (typeof value === "number") {
      expect(Number.isInteger(value) && value > 0, `${key}=${value}`).toBe(true);
      if (key === "width" || key === "height") expect(value).toBeLessThanOrEqual(65_535);
      if (key === "bitDepth") expect(value).toBeLessThanOrEqual(16);
    } else {
      expect(typeof value === "string" && value.length > 0, `${key}=${value}`).toBe(true);
    }
  }
}

describe("hostile input", () => {
  const all = [...VIDEO, ...AUDIO].map((v) => hex(v.payload));

  it("reads every truncation of every vector without throwing, keeping the codec name", () => {
    for (const full of all) {
      const codec = videoDetails(full)?.codec ?? audioDetails(full)?.codec;
      for (let n = 0; n < full.length; n++) {
        const cut = full.subarray(0, n);
        const d = videoDetails(cut) ?? audioDetails(cut);
        expectSane(d);
        if (d !== null) expect(d.codec).toBe(codec!);
      }
    }
  });

  it("survives bit flips in every vector (seeded)", () => {
    const rand = mulberry32(20_241_201);
    for (const full of all) {
      for (let round = 0; round < 300; round++) {
        const bytes = full.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) {
          const bit = Math.floor(rand() * bytes.length * 8);
          bytes[bit >> 3] ^= 0x80 >> (bit & 7);
        }
        expectSane(videoDetails(bytes));
        expectSane(audioDetails(bytes));
      }
    }
  });

  it("survives random payloads behind every header kind (seeded)", () => {
    const rand = mulberry32(7);
    const heads = [
      '90 "avc1"', '90 "hvc1"', '90 "av01"', '90 "vp09"', '90 "vp08"', "17 00 000000", "1c 00 000000",
      '90 "mp4a"', '90 "Opus"', '90 "fLaC"', '91 "ac-3"', '91 "ec-3"', '91 ".mp3"', "af 00", "2f", '96 10 "av01" 00',
      '97 02 0003e8 00 "hvc1"', '95 10 "Opus" 00',
    ].map(hex);
    for (let i = 0; i < 20_000; i++) {
      const head = heads[i % heads.length];
      const body = Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
      const payload = new Uint8Array(head.length + body.length);
      payload.set(head);
      payload.set(body, head.length);
      expectSane(videoDetails(payload));
      expectSane(audioDetails(payload));
    }
  });
});
