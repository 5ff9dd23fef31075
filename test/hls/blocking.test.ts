import { describe, expect, it } from "bun:test";
import type { Frame } from "../../src/media/frame.ts";
import { type HlsReply, HlsMuxer } from "../../src/hls/muxer.ts";
import { reloadDirective, reloadState } from "../../src/hls/reload.ts";
import { Segmenter } from "../../src/hls/segmenter.ts";
import { concat } from "../../support/bytes.ts";
import { readInit } from "../../support/fmp4.ts";
import { av, audioHeader, bytesOf, fed, SETTINGS, trafs, videoHeader } from "./synthetic.ts";

/** A segmenter fed `frames` frames (40 ms, a keyframe every second): frame 31 gives 1 segment + 1 part. */
function window(frames: number): Segmenter {
  const { segmenter, feed } = fed();
  av(feed, 0, frames);
  return segmenter;
}

describe("blocking reload directives", () => {
  it("reads _HLS_msn and _HLS_part, and refuses _HLS_part alone or values that are not decimal integers", () => {
    expect(reloadDirective(new URLSearchParams("token=x"))).toBeNull();
    expect(reloadDirective(new URLSearchParams("_HLS_msn=3"))).toEqual({ msn: 3, part: null });
    expect(reloadDirective(new URLSearchParams("_HLS_msn=3&_HLS_part=2"))).toEqual({ msn: 3, part: 2 });
    expect(reloadDirective(new URLSearchParams("_HLS_part=2"))).toBe("bad");
    expect(reloadDirective(new URLSearchParams("_HLS_msn=-1"))).toBe("bad");
    expect(reloadDirective(new URLSearchParams("_HLS_msn=1&_HLS_part=x"))).toBe("bad");
  });

  it("answers what the playlist holds, waits for what comes next, refuses what is too far ahead", () => {
    // Segment 0 complete (parts 0-4), segment 1 open with part 0 (index 5).
    const s = window(31);
    expect(reloadState(s, { msn: 0, part: null })).toBe("ready");
    expect(reloadState(s, { msn: 1, part: null })).toBe("wait");
    expect(reloadState(s, { msn: 2, part: null })).toBe("wait");
    // More than two segments past the last one.
    expect(reloadState(s, { msn: 3, part: null })).toBe("too-far");
    expect(reloadState(s, { msn: 1, part: 0 })).toBe("ready");
    expect(reloadState(s, { msn: 1, part: 1 })).toBe("wait");
    // A part past a segment's last is part 0 of the next one.
    expect(reloadState(s, { msn: 0, part: 5 })).toBe("ready");
    expect(reloadState(s, { msn: 0, part: 9 })).toBe("ready");
    // The Advance Part Limit: 3 s of 200 ms parts past the last one published.
    expect(reloadState(s, { msn: 1, part: 15 })).toBe("wait");
    expect(reloadState(s, { msn: 1, part: 16 })).toBe("too-far");
    expect(reloadState(s, { msn: 2, part: 15 })).toBe("too-far");
  });
});

/** A muxer fed directly as an output of a stream (no server): headers, then frames as the test says. */
function muxer(lowLatency = true) {
  const m = new HlsMuxer("live/test", { ...SETTINGS, lowLatency }, { msn: 0, discontinuity: 0 });
  m.frame(videoHeader());
  m.frame(audioHeader());
  const feed = (frame: Frame) => m.frame(frame);
  return { m, feed, frames: (from: number, count: number) => av(feed, from, count) };
}

/** A reply's settling, observable without waiting: null while it is pending. */
function tracked(reply: HlsReply | Promise<HlsReply>): { result: HlsReply | null; done: Promise<HlsReply> } {
  const done = Promise.resolve(reply);
  const t: { result: HlsReply | null; done: Promise<HlsReply> } = { result: null, done };
  done.then((r) => (t.result = r));
  return t;
}

const signal = () => new AbortController().signal;

describe("HlsMuxer requests", () => {
  it("holds a blocking playlist reload until the part it names is published", async () => {
    const { m, frames } = muxer();
    frames(0, 31);
    const reload = tracked(m.playlist(new URLSearchParams("_HLS_msn=1&_HLS_part=1"), "?token=t", signal()));
    await Bun.sleep(0);
    expect(reload.result).toBeNull();
    frames(31, 5);
    const reply = await reload.done;
    expect(reply.status).toBe(200);
    expect("playlist" in reply && reply.playlist).toContain('#EXT-X-PART:DURATION=0.200,URI="' + m.names.part(6) + '?token=t"');
    m.stop();
  });

  it("answers 400 at once for a reload too far ahead, or _HLS_part without _HLS_msn", async () => {
    const { m, frames } = muxer();
    frames(0, 31);
    expect((await m.playlist(new URLSearchParams("_HLS_msn=3"), "", signal())).status).toBe(400);
    expect((await m.playlist(new URLSearchParams("_HLS_msn=1&_HLS_part=16"), "", signal())).status).toBe(400);
    expect((await m.playlist(new URLSearchParams("_HLS_part=1"), "", signal())).status).toBe(400);
    m.stop();
  });

  it("ignores the directives when not low latency (plain HLS has no blocking reload)", async () => {
    const { m, frames } = muxer(false);
    frames(0, 31);
    const reply = await m.playlist(new URLSearchParams("_HLS_msn=5&_HLS_part=1"), "", signal());
    expect(reply.status).toBe(200);
    m.stop();
  });

  it("answers the hinted part once it is published; an unhinted future part is 404", async () => {
    const { m, frames } = muxer();
    frames(0, 31);
    const hinted = m.names.part(6);
    expect((await m.file(m.names.part(7), signal())).status).toBe(404);
    const part = tracked(m.file(hinted, signal()));
    await Bun.sleep(0);
    expect(part.result).toBeNull();
    frames(31, 5);
    const reply = await part.done;
    expect(reply.status).toBe(200);
    expect("body" in reply && trafs(reply.body).map((t) => t.trackId)).toEqual([1, 2]);
    m.stop();
  });

  it("serves a segment as its parts' bytes in one, the same bytes its parts keep serving, and the init section", async () => {
    const { m, frames } = muxer();
    frames(0, 31);
    const body = async (name: string) => {
      const reply = await m.file(name, signal());
      if (!("body" in reply)) throw new Error(`${name}: ${reply.status}`);
      return bytesOf(reply.body);
    };
    const segment = await body(m.names.segment(0));
    const parts = await Promise.all([0, 1, 2, 3, 4].map((i) => body(m.names.part(i))));
    expect(segment).toEqual(concat(...parts));
    // A part of the open segment, then the same part once its segment is complete (a slice of the segment's bytes).
    const open = await body(m.names.part(5));
    frames(31, 25);
    expect(await body(m.names.part(5))).toEqual(open);
    expect((await body(m.names.segment(1))).subarray(0, open.length)).toEqual(open);
    expect(readInit(await body(m.names.init(0))).tracks.map((t) => t.kind)).toEqual(["video", "audio"]);
    expect((await m.file("zzzzzzzz-seg0.m4s", signal())).status).toBe(404);
    expect((await m.file(m.names.segment(2), signal())).status).toBe(404);
    m.stop();
  });

  it("answers waiting requests 503 when it stops, and when their client leaves they stop waiting", async () => {
    const { m, frames } = muxer();
    frames(0, 31);
    const reload = m.playlist(new URLSearchParams("_HLS_msn=2"), "", signal());
    const gone = new AbortController();
    const left = m.file(m.names.part(6), gone.signal);
    gone.abort();
    expect((await left).status).toBe(503);
    m.stop();
    expect((await reload).status).toBe(503);
  });

  it("gives a blocking reload 503 after three target durations without it", async () => {
    const { m, frames } = muxer();
    frames(0, 31);
    const reply = await m.playlist(new URLSearchParams("_HLS_msn=2"), "", signal());
    expect(reply).toEqual({ status: 503, message: "not available yet" });
    m.stop();
  });
});
