/**
 * Real frames through trackConfig/sampleOf/fragment into a fragmented MP4 file, read back by two demuxers that
 * share nothing with our writer: mediabunny (every sample's time, sync flag and bytes) and FFmpeg (codec, size,
 * packet count, duration, and a clean decode).
 */
import { afterAll, describe, expect } from "bun:test";
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from "mediabunny";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TrackConfig } from "../../src/media/fmp4/track.ts";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { type EnhancedCodec, enhancedVideoStream } from "../helpers/enhanced-stream.ts";
import { flvTags } from "../../support/fed-stream.ts";
import { type Message, type Muxed, mux } from "../../support/fmp4.ts";
import { decodeErrors, ffprobeJson, probe, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { enhancedOpusStream } from "../helpers/opus-stream.ts";

const AUDIO = 8;
const VIDEO = 9;

interface Case {
  name: string;
  messages: () => Promise<Message[]>;
  /** What FFmpeg calls the streams, and the picture size. */
  video?: { codec: string; width: number; height: number };
  audio?: { codec: string; sampleRate: number; channels: number };
}

/** The default test source with B-frames: H.264 320x240 25 fps, a keyframe a second; AAC 44.1 kHz mono. */
async function flvMessages(): Promise<Message[]> {
  const tags = await flvTags(await testSource({ bframes: true }));
  return tags.map((t) => ({ type: t.type, timestamp: t.timestamp, payload: t.data }));
}

async function enhancedMessages(codec: EnhancedCodec): Promise<Message[]> {
  const { messages } = await enhancedVideoStream(codec, { frames: 50 });
  return messages.map((m) => ({ type: VIDEO, timestamp: m.timestamp, payload: m.payload }));
}

const H264 = { codec: "h264", width: 320, height: 240 };
const AAC = { codec: "aac", sampleRate: 44_100, channels: 1 };
const ENHANCED_SIZE = { width: 320, height: 180 };

const CASES: Case[] = [
  { name: "H.264 + AAC (legacy FLV, B-frames)", messages: flvMessages, video: H264, audio: AAC },
  { name: "audio only (AAC)", messages: async () => (await flvMessages()).filter((m) => m.type === AUDIO), audio: AAC },
  { name: "video only (H.264)", messages: async () => (await flvMessages()).filter((m) => m.type === VIDEO), video: H264 },
  { name: "H.265 (Enhanced RTMP, B-frames)", messages: () => enhancedMessages("hvc1"), video: { codec: "hevc", ...ENHANCED_SIZE } },
  { name: "AV1 (Enhanced RTMP)", messages: () => enhancedMessages("av01"), video: { codec: "av1", ...ENHANCED_SIZE } },
  { name: "VP9 (Enhanced RTMP)", messages: () => enhancedMessages("vp09"), video: { codec: "vp9", ...ENHANCED_SIZE } },
  {
    name: "Opus (Enhanced RTMP)",
    messages: () => enhancedOpusStream(2),
    audio: { codec: "opus", sampleRate: 48_000, channels: 2 },
  },
];

/** Our sample entry types as mediabunny names the codecs. */
const MEDIABUNNY_CODEC: Record<string, string> = {
  avc1: "avc",
  hvc1: "hevc",
  av01: "av1",
  vp09: "vp9",
  mp4a: "aac",
  Opus: "opus",
};

/** Every sample of a track as a demuxer reports it: presentation time in seconds, key or delta, bytes. */
function expectedPackets(muxed: Muxed, track: TrackConfig) {
  return muxed.samples.get(track.id)!.map((s) => ({
    timestamp: (s.decodeTime + s.compositionOffset) / track.timescale,
    type: s.sync ? "key" : "delta",
    data: s.data,
  }));
}

describe.skipIf(!requireFfmpeg())("fragmented MP4 from real frames", () => {
  const scratch = scratchDir("fmp4");
  afterAll(() => scratch.remove());
  // Each case's file is muxed once and only read; its readers (FFmpeg, mediabunny) overlap.
  const tests = testsAtOnce(() => new Scope());

  for (const c of CASES) {
    describe(c.name, () => {
      let muxed: Promise<Muxed> | undefined;
      const written = () => (muxed ??= c.messages().then((messages) => mux(messages)));

      tests.it("has a track for each kind of media the stream has, and none other", async () => {
        const { tracks, fragments } = await written();
        const kinds: string[] = tracks.map((t) => t.kind);
        expect(kinds).toEqual([...(c.video ? ["video"] : []), ...(c.audio ? ["audio"] : [])]);
        expect(tracks.map((t) => t.id)).toEqual(tracks.map((_, i) => i + 1));
        expect(fragments.length).toBeGreaterThan(1);
      });

      tests.it("reads back in mediabunny: codec, codec string, size, and every sample's time, sync flag and bytes", async () => {
        const m = await written();
        const input = new Input({ source: new BufferSource(m.file), formats: ALL_FORMATS });
        const read = await input.getTracks();
        expect(read.map((t) => t.type)).toEqual(m.tracks.map((t) => t.kind));
        for (const [i, track] of m.tracks.entries()) {
          const demuxed = read[i];
          expect(demuxed.codec).toBe(MEDIABUNNY_CODEC[track.codec] as never);
          // mediabunny spells every HEVC string hev1, whatever the sample entry (ours is hvc1: parameter sets in hvcC).
          expect((await demuxed.getCodecParameterString())?.replace(/^hev1\./, "hvc1.")).toBe(track.codecString);
          expect(demuxed.timeResolution).toBe(track.timescale);
          if (demuxed.isVideoTrack()) {
            expect([demuxed.codedWidth, demuxed.codedHeight]).toEqual([c.video!.width, c.video!.height]);
          } else if (demuxed.isAudioTrack()) {
            expect([demuxed.sampleRate, demuxed.numberOfChannels]).toEqual([c.audio!.sampleRate, c.audio!.channels]);
          }
          const packets = [];
          for await (const p of new EncodedPacketSink(demuxed).packets()) {
            packets.push({ timestamp: p.timestamp, type: p.type, data: p.data });
          }
          const expected = expectedPackets(m, track);
          expect(packets.length).toBe(expected.length);
          // Times to the microsecond (mediabunny divides by the timescale too, maybe in another order).
          const rounded = (list: { timestamp: number }[]) => list.map((p) => ({ ...p, timestamp: Math.round(p.timestamp * 1e6) }));
          expect(rounded(packets)).toEqual(rounded(expected));
        }
      });

      tests.it("reads back in FFmpeg: codec, size, packet count and duration, and decodes without an error", async () => {
        const m = await written();
        const file = join(scratch.path, `${c.name.replace(/\W+/g, "-")}.mp4`);
        writeFileSync(file, m.file);
        const probed = await probe(file);
        const count = (kind: string) => m.samples.get(m.tracks.find((t) => t.kind === kind)!.id)!.length;
        if (c.video) {
          expect(probed.video).toMatchObject({ codecName: c.video.codec, width: c.video.width, height: c.video.height });
          expect(probed.video!.packets).toBe(count("video"));
        } else {
          expect(probed.video).toBeUndefined();
        }
        if (c.audio) {
          expect(probed.audio).toMatchObject({ codecName: c.audio.codec });
          expect(probed.audio!.packets).toBe(count("audio"));
        } else {
          expect(probed.audio).toBeUndefined();
        }
        // The container's duration: where the longest track's last sample ends.
        const end = Math.max(
          ...m.tracks.map((t) => {
            const samples = m.samples.get(t.id)!;
            const last = samples[samples.length - 1];
            return (last.decodeTime + last.duration) / t.timescale;
          }),
        );
        expect(probed.duration).toBeCloseTo(end, 2);
        expect(await decodeErrors(file)).toBe("");
      });

      if (c.video) {
        tests.it("gives FFmpeg every video packet's decode and presentation time and key flag as fed", async () => {
          const m = await written();
          const file = join(scratch.path, `${c.name.replace(/\W+/g, "-")}-packets.mp4`);
          writeFileSync(file, m.file);
          const json = await ffprobeJson(["-select_streams", "v", "-show_entries", "packet=pts,dts,flags"], file);
          const packets = (json.packets as { pts: number; dts: number; flags: string }[]).map((p) => ({
            dts: p.dts,
            pts: p.pts,
            key: p.flags.includes("K"),
          }));
          const fed = m.samples.get(1)!.map((s) => ({ dts: s.decodeTime, pts: s.decodeTime + s.compositionOffset, key: s.sync }));
          expect(packets).toEqual(fed);
          if (c.name.includes("B-frames")) expect(fed.some((s) => s.pts !== s.dts)).toBe(true);
        });
      }
    });
  }
});
