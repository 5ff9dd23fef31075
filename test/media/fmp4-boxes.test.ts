import { describe, expect, it } from "bun:test";
import { fragment, type TrackRun } from "../../src/media/fmp4/fragment.ts";
import { initSegment } from "../../src/media/fmp4/init.ts";
import { type TrackConfig, trackConfig } from "../../src/media/fmp4/track.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { boxes, child, path, readFragment, readInit } from "../../support/fmp4.ts";
import { hex, toHex } from "../helpers/hex.ts";

const vector = (list: { what: string; payload: string }[], start: string) => {
  const found = list.find((v) => v.what.startsWith(start));
  if (found === undefined) throw new Error(`no fixture "${start}"`);
  return hex(found.payload);
};
const AVC_1080 = vector(VIDEO, "H.264 High 1920x1080");
const AAC_44K = vector(AUDIO, "AAC LC 44.1 kHz stereo");
const OPUS_HEAD = vector(AUDIO, "Enhanced RTMP Opus, ID header as RFC 7845");
const VP9_P0 = vector(VIDEO, "VP9 Profile 0 1280x720");

function track(kind: "video" | "audio", payload: Uint8Array, id: number, keyframe?: Uint8Array): TrackConfig {
  const config = trackConfig(kind, payload, id, keyframe);
  if (config === null) throw new Error("fixture not carried");
  return config;
}

/** The sample entry (the one box in stsd after its version, flags and entry count) of the init's first trak. */
function sampleEntry(init: Uint8Array): Uint8Array {
  return boxes(path(init, "moov/trak/mdia/minf/stbl/stsd").body.subarray(8))[0].bytes;
}

describe("fragment", () => {
  // Two runs: video with a negative composition offset and a decode time past 32 bits, then audio.
  const runs: TrackRun[] = [
    {
      trackId: 1,
      baseDecodeTime: 2 ** 32 + 5,
      samples: [
        { data: hex("010203"), duration: 3600, compositionOffset: -1800, sync: true },
        { data: hex("0405"), duration: 3600, compositionOffset: 0, sync: false },
      ],
    },
    { trackId: 2, baseDecodeTime: 1024, samples: [{ data: hex("0a"), duration: 1024, compositionOffset: 0, sync: true }] },
  ];
  const bytes =
    '000000c8 "moof"' +
    ' 00000010 "mfhd" 00000000 00000007' +
    ' 00000060 "traf"' +
    '  00000010 "tfhd" 00020000 00000001' +
    '  00000014 "tfdt" 01000000 0000000100000005' +
    '  00000034 "trun" 01000f01 00000002 000000d0' + // data offset: 200-byte moof + mdat header
    "   00000e10 00000003 02000000 fffff8f8" +
    "   00000e10 00000002 01010000 00000000" +
    ' 00000050 "traf"' +
    '  00000010 "tfhd" 00020000 00000002' +
    '  00000014 "tfdt" 01000000 0000000000000400' +
    '  00000024 "trun" 01000f01 00000001 000000d5' + // after the video run's 5 bytes
    "   00000400 00000001 02000000 00000000" +
    '0000000e "mdat" 010203 0405 0a';

  it("writes moof (mfhd, traf: tfhd, tfdt v1, trun v1) and mdat byte for byte", () => {
    expect(toHex(fragment(7, runs))).toBe(toHex(hex(bytes)));
  });

  it("reads back as the runs it was written from", () => {
    expect(readFragment(hex(bytes))).toEqual({ sequenceNumber: 7, runs });
  });

  it("leaves out runs with no samples", () => {
    const empty: TrackRun = { trackId: 3, baseDecodeTime: 99, samples: [] };
    expect(toHex(fragment(7, [runs[0], empty, runs[1]]))).toBe(toHex(hex(bytes)));
    expect(readFragment(fragment(1, [empty, runs[1]])).runs).toEqual([runs[1]]);
  });

  it("copies sample data: the fragment does not change when the source buffer does", () => {
    const data = hex("aabbcc");
    const out = fragment(1, [{ trackId: 1, baseDecodeTime: 0, samples: [{ data, duration: 1, compositionOffset: 0, sync: true }] }]);
    data.fill(0);
    expect(toHex(out.subarray(out.length - 3))).toBe("aabbcc");
  });
});

describe("init segment", () => {
  it("starts with ftyp: major brand iso6, compatible iso6, cmfc, mp41", () => {
    const init = initSegment([track("audio", AAC_44K, 1)]);
    expect(toHex(boxes(init)[0].bytes)).toBe(toHex(hex('0000001c "ftyp" "iso6" 00000000 "iso6" "cmfc" "mp41"')));
  });

  it("writes an AAC track as mp4a with esds (objectTypeIndication 0x40, the AudioSpecificConfig as DSI)", () => {
    expect(toHex(sampleEntry(initSegment([track("audio", AAC_44K, 2)])))).toBe(
      toHex(
        hex(
          '0000004e "mp4a" 000000000000 0001 0000000000000000 0002 0010 00000000 ac440000' +
            ' 0000002a "esds" 00000000' +
            "  03 1c 0002 00" + // ES_Descriptor: ES_ID 2, no flags
            "   04 14 40 15 000000 00000000 00000000" + // DecoderConfig: AAC, audio stream
            "    05 05 121056e500" + // DecoderSpecificInfo: the AudioSpecificConfig as FFmpeg sent it
            "   06 01 02", // SLConfig: predefined MP4
        ),
      ),
    );
  });

  it("writes an Opus track as Opus with dOps, the RFC 7845 ID header turned big-endian", () => {
    const opus = track("audio", OPUS_HEAD, 1);
    expect(toHex(sampleEntry(initSegment([opus])))).toBe(
      toHex(
        hex(
          '00000037 "Opus" 000000000000 0001 0000000000000000 0002 0010 00000000 bb800000' +
            ' 00000013 "dOps" 00 02 0138 0000bb80 0000 00', // version 0, 2 channels, pre-skip 312, 48 kHz, 0 dB, family 0
        ),
      ),
    );
  });

  it("writes a VP9 track as vp09 with vpcC as a version 1 full box and the size from the first keyframe", () => {
    // A VP9 keyframe header: profile 0, sync code, colour space 2, 320x180 (width-1, height-1 in 16 bits each).
    const keyframe = hex('91 "vp09" 82 498342 4013f00b30');
    const vp9 = track("video", VP9_P0, 1, keyframe);
    expect([vp9.width, vp9.height]).toEqual([320, 180]);
    expect(toHex(sampleEntry(initSegment([vp9])))).toBe(
      toHex(
        hex(
          '0000006a "vp09" 000000000000 0001 0000 0000 000000000000000000000000 0140 00b4' +
            " 00480000 00480000 00000000 0001" +
            ` ${"00".repeat(32)} 0018 ffff` + // compressorname, depth, pre_defined -1
            ' 00000014 "vpcC" 01000000 001f820202020000',
        ),
      ),
    );
  });

  it("describes video and audio tracks that read back as the configs they were written from", () => {
    const video = track("video", AVC_1080, 1);
    const audio = track("audio", AAC_44K, 2);
    const { tracks, trex } = readInit(initSegment([video, audio]));
    const { codecString: _v, ...videoFields } = video;
    const { codecString: _a, ...audioFields } = audio;
    expect(tracks).toEqual([videoFields, audioFields]);
    expect(trex).toEqual([1, 2]);
  });

  it("has only the tracks it is given: an audio-only init has no video trak", () => {
    const init = initSegment([track("audio", AAC_44K, 1)]);
    const moov = child(init, "moov").body;
    expect(boxes(moov).map((b) => b.type)).toEqual(["mvhd", "trak", "mvex"]);
    expect(readInit(init).tracks.map((t) => t.kind)).toEqual(["audio"]);
    // mvhd's next_track_ID follows the highest track id.
    const mvhd = child(moov, "mvhd").body;
    expect(new DataView(mvhd.buffer, mvhd.byteOffset).getUint32(mvhd.length - 4)).toBe(2);
  });

  it("lays each trak out as players expect: media header, handler, empty sample tables, data in this file", () => {
    const init = initSegment([track("video", AVC_1080, 1), track("audio", AAC_44K, 2)]);
    const traks = boxes(child(init, "moov").body).filter((b) => b.type === "trak");
    const layout = traks.map((trak) => {
      const minf = path(trak.body, "mdia/minf").body;
      return {
        trak: boxes(trak.body).map((b) => b.type),
        mdia: boxes(child(trak.body, "mdia").body).map((b) => b.type),
        minf: boxes(minf).map((b) => b.type),
        stbl: boxes(child(minf, "stbl").body).map((b) => b.type),
        dref: toHex(path(minf, "dinf/dref").bytes),
      };
    });
    const dref = toHex(hex('0000001c "dref" 00000000 00000001 0000000c "url " 00000001'));
    expect(layout).toEqual([
      {
        trak: ["tkhd", "mdia"],
        mdia: ["mdhd", "hdlr", "minf"],
        minf: ["vmhd", "dinf", "stbl"],
        stbl: ["stsd", "stts", "stsc", "stsz", "stco"],
        dref,
      },
      {
        trak: ["tkhd", "mdia"],
        mdia: ["mdhd", "hdlr", "minf"],
        minf: ["smhd", "dinf", "stbl"],
        stbl: ["stsd", "stts", "stsc", "stsz", "stco"],
        dref,
      },
    ]);
    const stbl = path(traks[0].body, "mdia/minf/stbl").body;
    expect(toHex(child(stbl, "stts").bytes)).toBe(toHex(hex('00000010 "stts" 00000000 00000000')));
    expect(toHex(child(stbl, "stsz").bytes)).toBe(toHex(hex('00000014 "stsz" 00000000 00000000 00000000')));
    expect(toHex(path(traks[0].body, "mdia/hdlr").bytes)).toBe(
      toHex(hex('0000002d "hdlr" 00000000 00000000 "vide" 000000000000000000000000 "VideoHandler" 00')),
    );
    expect(toHex(path(traks[1].body, "mdia/mdhd").bytes)).toBe(
      toHex(hex('00000020 "mdhd" 00000000 00000000 00000000 0000ac44 00000000 55c4 0000')),
    );
  });
});
