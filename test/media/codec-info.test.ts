import { describe, expect, it } from "bun:test";
import {
  audioCodecName,
  isAudioSequenceHeader,
  isVideoKeyframe,
  isVideoSequenceHeader,
  videoCodecName,
} from "../../src/media/codec-info.ts";
import { hex } from "../helpers/hex.ts";
import { mulberry32 } from "../helpers/prng.ts";

// [what, payload, keyframe, sequence header, codec]
const video: [string, string, boolean, boolean, string | null][] = [
  ["AVC sequence header", "17 00 000000 01 64001F FFE1 0019", true, true, "H264"],
  ["AVC keyframe", "17 01 000000 00000005 6588", true, false, "H264"],
  ["AVC inter frame", "27 01 000042 00000003 419A", false, false, "H264"],
  ["AVC end of sequence", "17 02 000000", true, false, "H264"],
  ["legacy HEVC (codec id 12) sequence header", "1C 00 000000 01 0160", true, true, "H265"],
  ["legacy HEVC inter frame", "2C 01 000000 0000", false, false, "H265"],
  ["Sorenson H.263 keyframe whose byte 1 happens to be 0", "12 00 8400", true, false, "H263"],
  ["VP6 inter frame", "24 00 0000", false, false, "VP6"],
  ["legacy command frame (start of seek)", "57 00", false, false, "H264"],
  ["unknown legacy codec id", "1F 00 0000", true, false, null],
  ["E-RTMP HEVC keyframe SequenceStart", '90 "hvc1" 01 0160', true, true, "H265"],
  ["E-RTMP HEVC keyframe CodedFrames", '91 "hvc1" 000000 00000005 2601', true, false, "H265"],
  ["E-RTMP HEVC inter CodedFrames", 'A1 "hvc1" 000021 00000003 0201', false, false, "H265"],
  ["E-RTMP HEVC inter CodedFramesX", 'A3 "hvc1" 00000003 0201', false, false, "H265"],
  ["E-RTMP AV1 SequenceStart", '90 "av01" 81 0400', true, true, "AV1"],
  ["E-RTMP VP9 SequenceStart", '90 "vp09" 01 0000', true, true, "VP9"],
  ["E-RTMP AV1 MPEG2TSSequenceStart (an AV1 descriptor)", '95 "av01" 80 0400', true, true, "AV1"],
  ["E-RTMP VP8 CodedFrames", '91 "vp08" 9d012a', true, false, "VP8"],
  ["E-RTMP AVC SequenceStart", '90 "avc1" 01 6400', true, true, "H264"],
  ["E-RTMP VVC SequenceStart", '90 "vvc1" 00', true, true, "H266"],
  ["E-RTMP SequenceEnd", '92 "av01"', true, false, "AV1"],
  ["E-RTMP Metadata", '94 "hvc1" 02 0009 "colorInfo"', true, false, "H265"],
  ["E-RTMP unknown FourCC", '90 "xxxx" 00', true, true, null],
  ["E-RTMP with a truncated FourCC", "90 6876", true, false, null],
  ["E-RTMP command frame (not a FourCC)", "D0 00", false, false, null],
  ["multitrack OneTrack SequenceStart", '96 00 "hvc1" 00 01 0160', true, true, "H265"],
  ["multitrack ManyTracks CodedFrames", '96 11 "av01" 00 000003 0a0b0c', true, false, "AV1"],
  ["multitrack ManyTracksManyCodecs SequenceStart", '96 20 "avc1" 00 000002 0164', true, true, "H264"],
  ["multitrack inter frame", 'A6 01 "hvc1" 00 000000', false, false, "H265"],
  ["multitrack byte with no FourCC after it", "96 00 6876", true, false, null],
  ["ModEx (nanosecond offset) then SequenceStart", '97 02 0003E8 00 "hvc1" 01', true, true, "H265"],
  ["ModEx then CodedFrames", 'A7 02 0003E8 01 "av01" 000000', false, false, "AV1"],
  ["ModEx with a 16-bit size", '97 FF 0002 0003E8 00 "vp09" 01', true, true, "VP9"],
  ["ModEx then multitrack", '97 02 0003E8 06 00 "hvc1" 00', true, true, "H265"],
  ["ModEx cut off in its data", "97 05 0003", true, false, null],
  ["ModEx cut off before its packet type", "97 02 0003E8", true, false, null],
  ["ModEx cut off in its 16-bit size", "97 FF 00", true, false, null],
];

// [what, payload, sequence header, codec]
const audio: [string, string, boolean, string | null][] = [
  ["AAC sequence header (AudioSpecificConfig)", "AF 00 1210", true, "AAC"],
  ["AAC raw frame", "AF 01 21 00 49 90", false, "AAC"],
  ["MP3 frame", "2F FFFB 9064", false, "MP3"],
  ["MP3 frame whose byte 1 is 0", "2F 00", false, "MP3"],
  ["MP3 8 kHz", "E2 FFF3", false, "MP3"],
  ["Speex", "B6 1234", false, "Speex"],
  ["Nellymoser", "62 0000", false, "Nellymoser"],
  ["G.711 A-law", "72 d5d5", false, "G711A"],
  ["G.711 mu-law", "82 ffff", false, "G711U"],
  ["PCM little-endian", "3E 0000", false, "PCM"],
  ["reserved sound format 13", "D0 00", false, null],
  ["device-specific sound format 15", "F0 00", false, null],
  ["E-RTMP Opus SequenceStart", '90 "Opus" "OpusHead"', true, "Opus"],
  ["E-RTMP Opus CodedFrames", '91 "Opus" fc ff fe', false, "Opus"],
  ["E-RTMP AAC SequenceStart", '90 "mp4a" 1210', true, "AAC"],
  ["E-RTMP FLAC SequenceStart", '90 "fLaC" "fLaC"', true, "FLAC"],
  ["E-RTMP MP3 CodedFrames", '91 ".mp3" fffb', false, "MP3"],
  ["E-RTMP AC-3 CodedFrames", '91 "ac-3" 0b77', false, "AC3"],
  ["E-RTMP E-AC-3 SequenceEnd", '92 "ec-3"', false, "EAC3"],
  ["E-RTMP multichannel config", '94 "Opus" 01 02', false, "Opus"],
  ["E-RTMP unknown FourCC", '90 "zzzz"', true, null],
  ["E-RTMP truncated FourCC", "90 4f70", false, null],
  ["multitrack OneTrack SequenceStart", '95 00 "Opus" 00 "OpusHead"', true, "Opus"],
  ["multitrack ManyTracks CodedFrames", '95 11 "mp4a" 00 000002 2100', false, "AAC"],
  ["ModEx then SequenceStart", '97 02 0003E8 00 "Opus" "OpusHead"', true, "Opus"],
];

describe("video payload inspection", () => {
  for (const [what, bytes, keyframe, sequenceHeader, codec] of video) {
    it(`reads ${what}: keyframe ${keyframe}, sequence header ${sequenceHeader}, codec ${codec}`, () => {
      const payload = hex(bytes);
      expect(isVideoKeyframe(payload)).toBe(keyframe);
      expect(isVideoSequenceHeader(payload)).toBe(sequenceHeader);
      expect(videoCodecName(payload)).toBe(codec);
    });
  }
});

describe("audio payload inspection", () => {
  for (const [what, bytes, sequenceHeader, codec] of audio) {
    it(`reads ${what}: sequence header ${sequenceHeader}, codec ${codec}`, () => {
      const payload = hex(bytes);
      expect(isAudioSequenceHeader(payload)).toBe(sequenceHeader);
      expect(audioCodecName(payload)).toBe(codec);
    });
  }
});

describe("payloads too short to tell", () => {
  for (const bytes of ["", "17", "27", "90", "96", "97", "AF", "2F", "95"]) {
    it(`says no and null for [${bytes}]`, () => {
      const payload = hex(bytes);
      expect(isVideoKeyframe(payload)).toBe(false);
      expect(isVideoSequenceHeader(payload)).toBe(false);
      expect(videoCodecName(payload)).toBeNull();
      expect(isAudioSequenceHeader(payload)).toBe(false);
      expect(audioCodecName(payload)).toBeNull();
    });
  }

  it("never throws on random payloads", () => {
    const rand = mulberry32(9);
    for (let i = 0; i < 20_000; i++) {
      const payload = Uint8Array.from({ length: Math.floor(rand() * 24) }, () => Math.floor(rand() * 256));
      // Bias the first byte toward the Enhanced RTMP wrappers, where the walking happens.
      if (payload.length > 0 && rand() < 0.5) payload[0] = [0x96, 0x97, 0x95, 0x90][Math.floor(rand() * 4)];
      expect(() => {
        isVideoKeyframe(payload);
        isVideoSequenceHeader(payload);
        videoCodecName(payload);
        isAudioSequenceHeader(payload);
        audioCodecName(payload);
      }).not.toThrow();
    }
  });
});
