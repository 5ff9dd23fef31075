import { describe, expect, it } from "bun:test";
import { initSegment } from "../../src/media/fmp4/init.ts";
import { sampleOf, ticks, trackConfig } from "../../src/media/fmp4/track.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { boxes, path, readInit } from "../../support/fmp4.ts";
import { hex, toHex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

const AUDIO_MESSAGE = 8;
const VIDEO_MESSAGE = 9;

/** Every video fixture: the sample entry and RFC 6381 string it must give. */
const VIDEO_TRACKS: Record<string, { codec: string; codecString: string }> = {
  "H.264 High 1920x1080 (coded 1088, cropped)": { codec: "avc1", codecString: "avc1.640028" },
  "H.264 Main 640x360 (coded 368, cropped)": { codec: "avc1", codecString: "avc1.4d401e" },
  "H.264 High 10 1280x720": { codec: "avc1", codecString: "avc1.6e001f" },
  "H.264 High 4:2:2 720x576": { codec: "avc1", codecString: "avc1.7a001e" },
  "H.264 High 4:4:4 Predictive 320x240": { codec: "avc1", codecString: "avc1.f4000d" },
  "H.264 Constrained Baseline 320x240 (pic_order_cnt_type 2)": { codec: "avc1", codecString: "avc1.42c00d" },
  "H.264 interlaced 1920x1080 (frame_mbs_only 0: 34 map units of field pairs, cropped)": {
    codec: "avc1",
    codecString: "avc1.640028",
  },
  // general_profile_compatibility_flags bit-reversed: Main 0x60000000 -> 6, Main 10 0x20000000 -> 4, RExt -> 10.
  "H.265 Main 1920x1080 (coded 1088, conformance window)": { codec: "hvc1", codecString: "hvc1.1.6.L120.90" },
  "H.265 Main 10 640x360 (coded 368)": { codec: "hvc1", codecString: "hvc1.2.4.L63.90" },
  "H.265 RExt 4:4:4 320x180 (coded 192)": { codec: "hvc1", codecString: "hvc1.4.10.L60.9E.08" },
  "AV1 Main 1920x1080 (libaom)": { codec: "av01", codecString: "av01.0.08M.08" },
  "AV1 Main 10-bit 640x360 (SVT-AV1)": { codec: "av01", codecString: "av01.0.01M.10" },
  "AV1 Main 1280x720 (SVT-AV1)": { codec: "av01", codecString: "av01.0.05M.08" },
  "VP9 Profile 0 1280x720 (record as FFmpeg's FLV muxer writes it: no FullBox prefix)": {
    codec: "vp09",
    codecString: "vp09.00.31.08.01.02.02.02.00",
  },
  "VP9 Profile 2 10-bit 640x360 (record with the MP4 FullBox prefix)": { codec: "vp09", codecString: "vp09.02.21.10.01.02.02.02.00" },
};

/** The record in a fixture: after `90 "xxxx"` (Enhanced RTMP) or `17 00 000000` (legacy), 5 bytes both. */
function record(payload: string): string {
  return toHex(hex(payload).subarray(5));
}

describe("trackConfig from real encoders' sequence headers", () => {
  for (const v of VIDEO) {
    it(`describes ${v.what}`, () => {
      const config = trackConfig("video", hex(v.payload), 1);
      expect(config).toMatchObject({
        id: 1,
        kind: "video",
        timescale: 90_000,
        // VP9's record has no picture size (see the VP9 keyframe case).
        width: v.details.width ?? 0,
        height: v.details.height ?? 0,
        sampleRate: 0,
        channels: 0,
        ...VIDEO_TRACKS[v.what],
      });
    });
  }

  it("keeps the avcC/hvcC/av1C record as it came, and the vpcC record without its FullBox prefix", () => {
    for (const v of VIDEO) {
      const expected = record(v.payload).replace(/^01000000/, "");
      expect(toHex(trackConfig("video", hex(v.payload), 1)!.config)).toBe(expected);
    }
  });

  it("writes the short VP9 codec string when the optional fields hold their defaults (4:2:0, BT.709, limited)", () => {
    expect(trackConfig("video", hex('90 "vp09" 001f82 010101 0000'), 1)?.codecString).toBe("vp09.00.31.08");
    expect(trackConfig("video", hex('90 "vp09" 001f83 010101 0000'), 1)?.codecString).toBe("vp09.00.31.08.01.01.01.01.01");
  });

  const AAC: Record<string, string> = {
    "AAC LC 44.1 kHz stereo (with FFmpeg's explicit no-SBR sync extension)": "mp4a.40.2",
    "AAC LC 48 kHz mono": "mp4a.40.2",
    "AAC LC 48 kHz 5.1": "mp4a.40.2",
    "AAC LC 5.1 in a program config element (with a comment field)": "mp4a.40.2",
    "AAC Main 48 kHz stereo": "mp4a.40.1",
  };
  for (const a of AUDIO.filter((a) => a.details.codec === "AAC")) {
    it(`describes ${a.what}`, () => {
      expect(trackConfig("audio", hex(a.payload), 2)).toMatchObject({
        id: 2,
        kind: "audio",
        codec: "mp4a",
        timescale: a.details.sampleRate!,
        sampleRate: a.details.sampleRate!,
        channels: a.details.channels!,
        width: 0,
        height: 0,
        config: hex(a.payload).subarray(2),
        codecString: AAC[a.what],
      });
    });
  }

  it("turns both forms of the Opus ID header into the same dOps body, at 48 kHz", () => {
    const dops = hex("00 02 0138 0000bb80 0000 00");
    for (const a of AUDIO.filter((a) => a.details.codec === "Opus")) {
      expect(trackConfig("audio", hex(a.payload), 1)).toMatchObject({
        codec: "Opus",
        timescale: 48_000,
        sampleRate: 48_000,
        channels: 2,
        config: dops,
        codecString: "opus",
      });
    }
  });

  it("keeps an Opus channel mapping table (family 1: stream count, coupled count, one byte a channel)", () => {
    const opusHead = '90 "Opus" "OpusHead" 01 06 3801 80bb0000 0000 01 04 02 000401020305';
    expect(toHex(trackConfig("audio", hex(opusHead), 1)!.config)).toBe(toHex(hex("00 06 0138 0000bb80 0000 01 04 02 000401020305")));
    expect(trackConfig("audio", hex(opusHead).subarray(0, 30), 1)).toBeNull(); // mapping table cut short
  });

  it("takes an empty Opus sequence start as plain stereo, as the Enhanced RTMP spec says", () => {
    expect(trackConfig("audio", hex('90 "Opus"'), 1)).toMatchObject({ channels: 2, config: hex("00 02 0000 0000bb80 0000 00") });
  });

  it("gives null for the audio codecs fMP4 here does not carry", () => {
    const notCarried = AUDIO.filter((a) => a.details.codec !== "AAC" && a.details.codec !== "Opus");
    expect(notCarried.map((a) => a.details.codec)).toContain("FLAC");
    for (const a of notCarried) expect(trackConfig("audio", hex(a.payload), 1)).toBeNull();
  });

  it("reads the same records in other wrappings: legacy HEVC (codec id 12), Enhanced avc1 and mp4a, a ModEx prefix", () => {
    const hevc = VIDEO.find((v) => v.what.startsWith("H.265 Main 1920x1080"))!;
    const avc = VIDEO.find((v) => v.what.startsWith("H.264 High 1920x1080"))!;
    expect(trackConfig("video", hex(`1c 00 000000 ${record(hevc.payload)}`), 1)?.codecString).toBe("hvc1.1.6.L120.90");
    expect(trackConfig("video", hex(`90 "avc1" ${record(avc.payload)}`), 1)?.codecString).toBe("avc1.640028");
    // ModEx (packet type 7): 3 bytes of modifier data, then the real packet type (SequenceStart) in the low nibble.
    expect(trackConfig("video", hex(`97 02 000000 00 "hvc1" ${record(hevc.payload)}`), 1)).toMatchObject({ width: 1920 });
    expect(trackConfig("audio", hex('90 "mp4a" 1210'), 1)).toMatchObject({ codec: "mp4a", sampleRate: 44_100 });
  });

  it("gives an AV1 track without a sequence header in its av1C the size of the first keyframe's", () => {
    const av1 = VIDEO.find((v) => v.what.startsWith("AV1 Main 1920x1080"))!;
    const configObus = record(av1.payload).slice(8);
    const bare = hex(`90 "av01" ${record(av1.payload).slice(0, 8)}`);
    expect(trackConfig("video", bare, 1)).toMatchObject({ width: 0, height: 0 });
    const keyframe = hex(`91 "av01" 1200 ${configObus} 3201aa`);
    expect(trackConfig("video", bare, 1, keyframe)).toMatchObject({ width: 1920, height: 1080 });
  });

  it("gives null for multitrack, non-header, broken and unknown-codec messages", () => {
    const hevc = record(VIDEO.find((v) => v.what.startsWith("H.265 Main 1920x1080"))!.payload);
    const cases = [
      `96 00 "hvc1" 00 ${hevc}`, // multitrack (one track, track 0)
      `91 "hvc1" 000000 ${hevc}`, // coded frames, not a sequence start
      `95 "av01" 00`, // AV1 as an MPEG-2 TS descriptor
      '90 "vp08" 001f820202020000', // VP8
      '90 "vvc1" 00', // H.266
      "17 00 000000 00640028", // avcC of configuration version 0
      "1c 00 000000 0101600000", // hvcC cut short
      '90 "av01" 00080c00', // av1C without its marker
      '90 "vp09" 001f82', // vpcC cut short
      "27 00 000000", // legacy frame type 2 ... codec 7 sequence header with no record
      "12 00", // H.263
      "af 01 2110", // AAC raw frame
      "af 00 f8", // AudioSpecificConfig with a reserved sampling frequency
      '95 00 "Opus"', // audio multitrack
      '90 "Opus" "OpusHead" 01 00 3801 80bb0000 0000 00', // no channels
      "17",
      "",
    ];
    for (const c of cases) {
      const kind = /^[a-f]/.test(c) || c.includes("Opus") ? "audio" : "video";
      expect([c, trackConfig(kind, hex(c), 1)]).toEqual([c, null]);
    }
  });

  it("writes an AudioSpecificConfig of 128 bytes or more with a multi-byte descriptor size", () => {
    const asc = hex(`1210 ${"00".repeat(200)}`);
    const init = initSegment([trackConfig("audio", hex(`af 00 ${toHex(asc)}`), 1)!]);
    expect(readInit(init).tracks[0].config).toEqual(asc);
    const esds = boxes(path(init, "moov/trak/mdia/minf/stbl/stsd").body.subarray(8 + 36))[0];
    // DecoderSpecificInfo: tag 5, size 202 as 0x81 0x4a.
    expect(toHex(esds.body).includes(`05814a${toHex(asc)}`)).toBe(true);
  });
});

describe("sampleOf", () => {
  const view = (type: number, payload: string) => {
    const p = hex(payload);
    const s = sampleOf(type, p);
    return s === null ? null : { data: toHex(s.data), cts: s.compositionOffsetMs, key: s.keyframe, view: s.data.buffer === p.buffer };
  };

  it("takes legacy AVC and HEVC NAL units as they are, with the signed 24-bit composition time", () => {
    expect(view(VIDEO_MESSAGE, "17 01 000050 00000002 6588")).toEqual({ data: "000000026588", cts: 80, key: true, view: true });
    expect(view(VIDEO_MESSAGE, "27 01 ffffd8 00000001 41")).toEqual({ data: "0000000141", cts: -40, key: false, view: true });
    expect(view(VIDEO_MESSAGE, "1c 01 000000 00000002 2601")).toEqual({ data: "000000022601", cts: 0, key: true, view: true });
  });

  it("reads Enhanced RTMP coded frames: a composition time for avc1/hvc1 only, none in CodedFramesX", () => {
    expect(view(VIDEO_MESSAGE, '91 "hvc1" 000028 00000001 26')).toEqual({ data: "0000000126", cts: 40, key: true, view: true });
    expect(view(VIDEO_MESSAGE, 'a1 "avc1" fffff6 00000001 41')).toEqual({ data: "0000000141", cts: -10, key: false, view: true });
    expect(view(VIDEO_MESSAGE, 'a3 "hvc1" 00000001 02')).toEqual({ data: "0000000102", cts: 0, key: false, view: true });
    expect(view(VIDEO_MESSAGE, 'a1 "vp09" 86004000')).toEqual({ data: "86004000", cts: 0, key: false, view: true });
  });

  it("leaves the temporal delimiter out of an AV1 sample, as the ISO BMFF binding wants", () => {
    expect(view(VIDEO_MESSAGE, '91 "av01" 1200 3201aa')).toEqual({ data: "3201aa", cts: 0, key: true, view: true });
    expect(view(VIDEO_MESSAGE, '91 "av01" 3201aa')).toEqual({ data: "3201aa", cts: 0, key: true, view: true });
  });

  it("walks past ModEx blocks to the packet type that applies", () => {
    expect(view(VIDEO_MESSAGE, '97 02 0003e8 01 "hvc1" 000000 00000001 26')).toEqual({
      data: "0000000126",
      cts: 0,
      key: true,
      view: true,
    });
  });

  it("takes AAC raw frames and Enhanced RTMP AAC and Opus coded frames", () => {
    expect(view(AUDIO_MESSAGE, "af 01 2110")).toEqual({ data: "2110", cts: 0, key: true, view: true });
    expect(view(AUDIO_MESSAGE, '91 "mp4a" 2110')).toEqual({ data: "2110", cts: 0, key: true, view: true });
    expect(view(AUDIO_MESSAGE, '91 "Opus" fcfffe')).toEqual({ data: "fcfffe", cts: 0, key: true, view: true });
  });

  it("gives null for headers, ends, metadata, commands, multitrack, codecs not carried and short bodies", () => {
    const video = [
      "17 00 000000 0164", // AVC sequence header
      "17 02 000000", // AVC end of sequence
      "57 00", // legacy command frame
      "17 01 000000", // no NAL units
      "17 01 00",
      "22 0000", // Sorenson H.263
      '90 "hvc1" 01', // sequence start
      '92 "hvc1"', // sequence end
      '94 "hvc1" 0200', // metadata
      'd1 "hvc1" 000000', // command frame (frame type 5)
      '96 01 "hvc1" 00 000000 00000001 26', // multitrack, one track
      '91 "vp08" 9d012a', // VP8
      '91 "vvc1" 000000 00', // H.266
      '91 "hvc1" 0000', // no room for the composition time
      '93 "av01"', // nothing after the FourCC
      '97 09 00', // ModEx running past the end
      "17",
    ];
    for (const c of video) expect([c, sampleOf(VIDEO_MESSAGE, hex(c))]).toEqual([c, null]);
    const audio = [
      "af 00 1210", // AAC config
      "2f fffb9064", // MP3
      '91 "fLaC" fff8', // FLAC
      '91 "ac-3" 0b77', // AC-3
      '90 "Opus" "OpusHead"', // Opus ID header
      '92 "Opus"', // sequence end
      '95 01 "Opus" 00 fcff', // multitrack
      "af 01",
      "af",
    ];
    for (const c of audio) expect([c, sampleOf(AUDIO_MESSAGE, hex(c))]).toEqual([c, null]);
    expect(sampleOf(18, hex("17 01 000000 00000001 41"))).toBeNull(); // data message
  });

  it("never throws on random bytes, and whatever it gives is a view inside the payload", () => {
    const random = mulberry32(16);
    for (let i = 0; i < 20_000; i++) {
      const payload = Uint8Array.from({ length: Math.floor(random() * 24) }, () => Math.floor(random() * 256));
      if (i % 2 === 0) payload[0] = [0x17, 0x27, 0x1c, 0x91, 0x93, 0x97, 0x96, 0xaf, 0x90][i % 9];
      for (const type of [AUDIO_MESSAGE, VIDEO_MESSAGE]) {
        const sample = sampleOf(type, payload);
        if (sample !== null) {
          expect(sample.data.buffer).toBe(payload.buffer);
          expect(sample.data.byteOffset + sample.data.length).toBeLessThanOrEqual(payload.byteOffset + payload.length);
        }
        trackConfig(type === VIDEO_MESSAGE ? "video" : "audio", payload, 1, payload);
      }
    }
  });
});

describe("ticks", () => {
  it("rounds milliseconds to the timescale, so durations from decode times add up exactly", () => {
    expect(ticks(1000, 90_000)).toBe(90_000);
    expect(ticks(40, 90_000)).toBe(3600);
    expect(ticks(23, 44_100)).toBe(1014);
    // AAC frames of 1024 samples at 44.1 kHz, stamped in whole milliseconds: each duration is within the 44 ticks
    // of a millisecond of 1024, and they sum to the last decode time, so the error never grows.
    const stamps = Array.from({ length: 431 }, (_, i) => Math.round((i * 1024 * 1000) / 44_100));
    const times = stamps.map((ms) => ticks(ms, 44_100));
    const durations = times.slice(1).map((t, i) => t - times[i]);
    expect(Math.min(...durations)).toBeGreaterThanOrEqual(1024 - 44);
    expect(Math.max(...durations)).toBeLessThanOrEqual(1024 + 44);
    expect(durations.reduce((a, b) => a + b, 0)).toBe(times[times.length - 1]);
  });
});
