import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { tsFrames } from "../../bench/ts-frame-reader.ts";
import { requireFfmpeg, scratchDir } from "../helpers/media.ts";

/** One 188-byte packet of PID 0x100 starting a PES of `streamId` with a PTS and, if given, a DTS (90 kHz). */
function pesPacket(streamId: number, pts: number, dts?: number): Uint8Array {
  const packet = new Uint8Array(188).fill(0xff);
  packet.set([0x47, 0x41, 0x00, 0x10]);
  const stamp = (prefix: number, t: number) => [
    (prefix << 4) | (Math.floor(t / 2 ** 30) << 1) | 1,
    (t >> 22) & 0xff,
    (((t >> 15) & 0x7f) << 1) | 1,
    (t >> 7) & 0xff,
    ((t & 0x7f) << 1) | 1,
  ];
  const times = dts === undefined ? stamp(2, pts) : [...stamp(3, pts), ...stamp(1, dts)];
  packet.set([0, 0, 1, streamId, 0, 0, 0x80, dts === undefined ? 0x80 : 0xc0, times.length, ...times], 4);
  return packet;
}

describe("tsFrames", () => {
  it("reads each PES start's stream and decode time: the DTS, or the PTS without one", () => {
    const big = 2 ** 32 + 90 * 1234;
    const bytes = new Uint8Array([...pesPacket(0xe0, 9000 + 3003, 9000), ...pesPacket(0xc0, big), ...pesPacket(0xbd, 900)]);
    expect(tsFrames(bytes)).toEqual([
      { video: true, decodeMs: 100 },
      { video: false, decodeMs: big / 90 },
    ]);
  });

  it("refuses bytes that are not whole transport packets", () => {
    expect(() => tsFrames(new Uint8Array(100))).toThrow("not whole TS packets");
    expect(() => tsFrames(new Uint8Array(188))).toThrow("no sync byte at 0");
  });

  it.skipIf(!requireFfmpeg())("finds every video frame FFmpeg's MPEG-TS muxer wrote, at ffprobe's decode times", async () => {
    const dir = scratchDir("ts-frames");
    try {
      const ts = join(dir.path, "out.ts");
      await run(["ffmpeg", "-nostdin", "-v", "error", "-i", await testSource(), "-c", "copy", "-f", "mpegts", ts]);
      const probe = await run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=dts_time", "-of", "csv=p=0", ts]);
      const expected = probe.stdout.match(/[\d.]+/g)!.map((t) => Math.round(Number(t) * 1000));
      const frames = tsFrames(readFileSync(ts));
      expect(expected.length).toBeGreaterThan(100);
      expect(frames.filter((f) => f.video).map((f) => Math.round(f.decodeMs))).toEqual(expected);
      expect(frames.filter((f) => !f.video).length).toBeGreaterThan(0);
    } finally {
      dir.remove();
    }
  });
});
