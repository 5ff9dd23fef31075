/**
 * HLS and LL-HLS played by real FFmpeg from an RTMP publish: H.264+AAC, HEVC through fMP4, audio only, and a
 * republish that continues the same playlist URL with a discontinuity.
 */
import { describe, expect } from "bun:test";
import { run } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { type LiveTest, liveTests } from "../helpers/live-server.ts";
import { decodeErrors, probe, probeTestSourceCopy, requireFfmpeg } from "../helpers/media.ts";
import { hlsConfig, playlistUrl, publishHevc } from "./live-hls.ts";

/** FFmpeg plays seconds of live media in each test: more than bun's 5 s default. */
const TEST_MS = 40_000;

/** FFmpeg reading `seconds` of the playlist into an MP4 file; resolves with the file once FFmpeg exited 0. */
async function recordHls(live: LiveTest, name: string, seconds: number): Promise<string> {
  const out = live.path(`${name}.mp4`);
  const player = live.children.spawn(`hls player ${name}`, [
    "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
    "-i", playlistUrl(live, name), "-t", String(seconds), "-c", "copy", "-y", out,
  ]);
  const code = await player.waitExit(30_000);
  expect(code, player.describe()).toBe(0);
  return out;
}

/** The first playlist of a live stream, fetched once, and how long it took. */
async function firstPlaylist(live: LiveTest, name: string): Promise<{ text: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(playlistUrl(live, name));
  const text = await response.text();
  const ms = performance.now() - started;
  expect(response.status, text).toBe(200);
  return { text, ms };
}

describe.skipIf(!requireFfmpeg())("plain HLS from an RTMP publish", () => {
  const tests = liveTests("hls-plain", { adjust: hlsConfig(false) });

  tests.it("lists segments only, at once for a live stream, and FFmpeg plays it", async (live) => {
    await live.publishLive(await testSource(), "plain");
    const { text, ms } = await firstPlaylist(live, "plain");
    console.log(`time to first playlist with a segment (plain HLS, live stream): ${ms.toFixed(1)} ms`);
    expect(text).toContain("#EXTINF:");
    expect(text).toContain("#EXT-X-VERSION:6");
    expect(text).not.toContain("#EXT-X-PART");
    expect(text).not.toContain("#EXT-X-SERVER-CONTROL");
    const out = await recordHls(live, "plain", 3);
    await probeTestSourceCopy(out);
    expect(await decodeErrors(out)).toBe("");
  }, TEST_MS);
});

describe.skipIf(!requireFfmpeg())("LL-HLS from an RTMP publish", () => {
  const tests = liveTests("hls-ll", { adjust: hlsConfig(true) });

  tests.it("lists a segment in the first playlist of a live stream, and FFmpeg plays it (H.264 + AAC)", async (live) => {
    await live.publishLive(await testSource(), "ll");
    const { text, ms } = await firstPlaylist(live, "ll");
    console.log(`time to first playlist with a segment (LL-HLS, live stream): ${ms.toFixed(1)} ms`);
    expect(text).toContain("#EXTINF:");
    expect(text).toContain("#EXT-X-PART:");
    expect(text).toContain("#EXT-X-PRELOAD-HINT:TYPE=PART");
    const out = await recordHls(live, "ll", 3);
    await probeTestSourceCopy(out);
    expect(await decodeErrors(out)).toBe("");
  }, TEST_MS);

  tests.it("continues the same playlist URL after a republish, with a discontinuity and a media sequence that never goes back", async (live) => {
    const source = await testSource();
    const first = live.publish(source, "re", { seconds: 3 });
    await live.server.waitUntilLive("re");
    const before = await firstPlaylist(live, "re");
    const prefix = /URI="([0-9a-z]+)-init0\.mp4"/.exec(before.text)?.[1];
    expect(prefix).toBeDefined();
    const sequences: number[] = [];
    const poll = async () => {
      const text = await (await fetch(playlistUrl(live, "re"))).text();
      const sequence = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1];
      if (sequence !== undefined) sequences.push(Number(sequence));
      return text;
    };
    // The viewer keeps asking while the first publisher ends and the next one starts.
    await waitFor(async () => (await poll(), first.exitCode !== null), 15_000, "the first publisher to finish");
    live.publish(source, "re");
    let after = "";
    await waitFor(async () => (after = await poll()).includes("#EXT-X-DISCONTINUITY\n"), 15_000, "a discontinuity in the playlist");
    expect(after).toContain(`#EXT-X-MAP:URI="${prefix}-init1.mp4"`);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    const out = await recordHls(live, "re", 2);
    expect((await probe(out)).video).toMatchObject({ codecName: "h264" });
  }, TEST_MS);

  tests.it("carries HEVC through fMP4", async (live) => {
    const hevc = await publishHevc(live.server.url("hevc"), "hevc");
    try {
      const out = await recordHls(live, "hevc", 2);
      const copy = await probe(out);
      expect(copy.video, JSON.stringify(copy)).toMatchObject({ codecName: "hevc", width: hevc.width, height: hevc.height });
      expect(copy.audio).toBeUndefined();
      expect(await decodeErrors(out)).toBe("");
    } finally {
      await hevc.stop();
    }
  }, TEST_MS);

  tests.it("plays an audio-only stream as audio only", async (live) => {
    const audioOnly = live.path("audio-only.flv");
    const made = await run(["ffmpeg", "-nostdin", "-v", "error", "-i", await testSource(), "-vn", "-c", "copy", "-y", audioOnly]);
    expect(made.code, made.stderr).toBe(0);
    live.publish(audioOnly, "radio");
    const registry = live.server.server.registry;
    await waitFor(() => (registry.streams.get("live/radio")?.stats(performance.now())?.audio_packets ?? 0) > 0, 10_000, "audio of live/radio");
    const { text } = await firstPlaylist(live, "radio");
    expect(text).toContain("#EXT-X-PART:DURATION=0.2");
    const out = await recordHls(live, "radio", 2);
    const copy = await probe(out);
    expect(copy.audio, JSON.stringify(copy)).toMatchObject({ codecName: "aac" });
    expect(copy.video).toBeUndefined();
  }, TEST_MS);
});
