import { afterAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { videoDetails } from "../../src/media/codec-details.ts";
import { PacketType, readExHeader } from "../../src/media/ex-header.ts";
import { isVideoKeyframe, isVideoSequenceHeader, videoCodecName } from "../../src/media/codec-info.ts";
import {
  type EnhancedCodec,
  FRAME_MS,
  KEYFRAME_INTERVAL,
  enhancedVideoStream,
  toElementaryStream,
} from "../helpers/enhanced-stream.ts";
import { decodeErrors, probe, requireFfmpeg, scratchDir, videoFrameSizes } from "../helpers/media.ts";
import { run } from "../../support/children.ts";

const CODECS: { fourCc: EnhancedCodec; name: string; file: string; ffmpegName: string }[] = [
  { fourCc: "hvc1", name: "H265", file: "stream.hevc", ffmpegName: "hevc" },
  { fourCc: "av01", name: "AV1", file: "stream.obu", ffmpegName: "av1" },
  { fourCc: "vp09", name: "VP9", file: "stream.ivf", ffmpegName: "vp9" },
];

/** The payload of the first box called `name` in an MP4 file (a flat search: enough for these small files). */
function mp4Box(file: Uint8Array, name: string): Uint8Array {
  const tag = Buffer.from(name);
  const at = Buffer.from(file).indexOf(tag);
  if (at < 4) throw new Error(`no ${name} box`);
  const size = new DataView(file.buffer, file.byteOffset).getUint32(at - 4);
  return file.subarray(at + 4, at - 4 + size);
}

async function ffmpeg(args: string[]): Promise<void> {
  const result = await run(["ffmpeg", "-nostdin", "-v", "error", ...args]);
  if (result.code !== 0) throw new Error(`ffmpeg ${args.join(" ")} failed: ${result.stderr}`);
}

/** The key flag of every packet, in decode order, as FFmpeg's parser sees the file. */
async function packetKeyFlags(file: string): Promise<boolean[]> {
  const result = await run(["ffprobe", "-v", "error", "-show_entries", "packet=flags", "-of", "csv=p=0", file]);
  if (result.code !== 0) throw new Error(`ffprobe failed: ${result.stderr}`);
  return result.stdout.trim().split("\n").map((flags) => flags.includes("K"));
}

describe.skipIf(!requireFfmpeg())("Enhanced RTMP test streams", () => {
  const scratch = scratchDir("enhanced-stream");
  afterAll(() => scratch.remove());

  for (const { fourCc, name, file, ffmpegName } of CODECS) {
    describe(fourCc, () => {
      it("starts with a sequence start whose record names the codec and the size", async () => {
        const { messages, width, height } = await enhancedVideoStream(fourCc);
        const first = messages[0].payload;
        expect(first[0]).toBe(0x90); // IsExHeader | keyframe | SequenceStart
        expect(isVideoSequenceHeader(first)).toBe(true);
        const details = videoDetails(first);
        expect(details?.codec).toBe(name);
        expect(details?.bitDepth).toBe(8);
        expect(details?.chroma).toBe("4:2:0");
        // A vpcC has no picture size; the other records do.
        if (fourCc !== "vp09") expect([details?.width, details?.height]).toEqual([width, height]);
        expect([width, height]).toEqual([320, 180]);
      });

      it("sends 30 coded frames with a keyframe every 10, in Enhanced RTMP headers", async () => {
        const { messages } = await enhancedVideoStream(fourCc);
        const frames = messages.slice(1);
        expect(frames.length).toBe(30);
        const keyframes = frames.flatMap((m, i) => (m.keyframe ? [i] : []));
        expect(keyframes).toEqual([0, KEYFRAME_INTERVAL, 2 * KEYFRAME_INTERVAL]);
        for (const m of frames) {
          expect(m.payload[0] & 0x80).toBe(0x80);
          expect(isVideoKeyframe(m.payload)).toBe(m.keyframe);
          expect(isVideoSequenceHeader(m.payload)).toBe(false);
          expect(videoCodecName(m.payload)).toBe(name);
          const packetType: number = m.payload[0] & 0x0f;
          expect([PacketType.CodedFrames, PacketType.CodedFramesX as number]).toContain(packetType);
        }
        // Decode timestamps: one frame apart, from 0.
        expect(frames.map((m) => m.timestamp)).toEqual(frames.map((_, i) => i * FRAME_MS));
      });

      it("decodes with FFmpeg, with no errors, when written back into a file", async () => {
        const { messages, width, height } = await enhancedVideoStream(fourCc);
        const path = join(scratch.path, file);
        await Bun.write(path, toElementaryStream(fourCc, messages));
        expect(await decodeErrors(path)).toBe("");
        const probed = await probe(path);
        expect(probed.video?.codecName).toBe(ffmpegName);
        expect(await videoFrameSizes(path)).toEqual([`${width}x${height}`]);
        expect(await packetKeyFlags(path)).toEqual(messages.slice(1).map((m) => m.keyframe));
      });
    });
  }

  it("builds records that read the same as those FFmpeg's MP4 muxer writes for the same streams", async () => {
    for (const { fourCc, file } of CODECS) {
      const { messages } = await enhancedVideoStream(fourCc);
      const mp4 = join(scratch.path, `${fourCc}.mp4`);
      if (fourCc === "av01") {
        // FFmpeg cannot remux raw OBUs into MP4 with an av1C, so the reference is a fresh encode, same settings.
        const source = "testsrc=size=320x180:rate=25";
        await ffmpeg(["-f", "lavfi", "-i", source, "-frames:v", "1", "-pix_fmt", "yuv420p", "-c:v", "libaom-av1",
          "-usage", "realtime", "-cpu-used", "8", "-y", mp4]);
      } else {
        const stream = join(scratch.path, `reference-${file}`);
        await Bun.write(stream, toElementaryStream(fourCc, messages));
        await ffmpeg(["-i", stream, "-c", "copy", "-y", mp4]);
      }
      const box = { hvc1: "hvcC", av01: "av1C", vp09: "vpcC" }[fourCc];
      let theirs = mp4Box(new Uint8Array(await Bun.file(mp4).arrayBuffer()), box);
      if (fourCc === "vp09") theirs = theirs.subarray(4); // the box's FullBox version and flags
      const header = Uint8Array.of(0x90, ...Buffer.from(fourCc));
      expect(videoDetails(messages[0].payload)).toEqual(videoDetails(Uint8Array.of(...header, ...theirs)));
    }
  });

  it("carries H.265 composition times: CodedFrames with the offset when it is not 0, else CodedFramesX", async () => {
    const { messages } = await enhancedVideoStream("hvc1");
    const offsets = messages.slice(1).map((m) => {
      const header = readExHeader(m.payload, PacketType.VideoMultitrack)!;
      if (header.packetType === PacketType.CodedFramesX) return 0;
      const b = header.body;
      return (b[0] << 16) | (b[1] << 8) | b[2];
    });
    // Each closed GOP of 10 in decode order: I P B B P B B P B B, decoded 2 frames ahead (two B-frames). The
    // I frame shows 2 frames after its decode time, each P 4 frames after, the B-frames 2 and 0.
    const gop = [2, 4, 2, 0, 4, 2, 0, 4, 2, 0].map((frames) => frames * FRAME_MS);
    expect(offsets).toEqual([...gop, ...gop, ...gop]);
  });

  it("honours the frame count and size options, and caches per options", async () => {
    const small = await enhancedVideoStream("hvc1", { frames: 12, width: 640, height: 360 });
    expect(small.messages.length).toBe(13);
    expect(videoDetails(small.messages[0].payload)).toMatchObject({ width: 640, height: 360 });
    expect(await enhancedVideoStream("hvc1", { frames: 12, width: 640, height: 360 })).toBe(small);
    expect(await enhancedVideoStream("hvc1")).not.toBe(small);
  });
});
