/**
 * VLC 3.0 (its "adaptive" demuxer) plays the LL-HLS and the plain HLS playlists of an RTMP publish: H.264+AAC,
 * and HEVC through fMP4. VLC has no LL-HLS support: it skips the part tags and plays the listed segments, as
 * RFC 8216bis intends of a plain HLS player. It remuxes what it demuxed into an MP4 file, which ffprobe checks.
 */
import { describe, expect } from "bun:test";
import { chmodSync } from "node:fs";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { type LiveTest, liveTests } from "../helpers/live-server.ts";
import { decodeErrors, probe, probeTestSourceCopy, requireFfmpeg } from "../helpers/media.ts";
import { hlsConfig, playlistUrl, publishHevc } from "./live-hls.ts";

/** VLC refuses to run as root (as CI does): there it runs as this user, through util-linux's runuser. */
const UNPRIVILEGED = "nobody";
const asRoot = process.getuid?.() === 0;

let availability: boolean | undefined;

/** Like requireFfmpeg(): VLC (and runuser, as root) on PATH, or a skip with a note; under CI=true a missing one fails. */
function requireVlc(): boolean {
  if (availability !== undefined) return availability;
  const missing = ["cvlc", ...(asRoot ? ["runuser"] : [])].filter((tool) => Bun.which(tool) === null);
  if (missing.length > 0 && process.env.CI === "true") {
    throw new Error(`the VLC tests need ${missing.join(" and ")} on PATH (apt-get install vlc-bin vlc-plugin-base), and CI=true forbids skipping them`);
  }
  if (missing.length > 0) console.warn(`NOTE: ${missing.join(" and ")} not found on PATH: skipping the VLC HLS tests`);
  availability = missing.length === 0;
  return availability;
}

/** Each test's VLC run: a publish start, a playlist check, seconds of media and their remux. */
const TEST_MS = 40_000;
/** Media seconds VLC plays (--run-time counts the input's media time, not the wall clock). */
const PLAY_S = 3;

/** Waits until the stream's playlist lists a segment; checks that it has the part tags exactly with LL-HLS. */
async function playlistReady(live: LiveTest, name: string, lowLatency: boolean): Promise<void> {
  let text = "";
  await waitFor(
    async () => (text = await (await fetch(playlistUrl(live, name))).text()).includes("#EXTINF:"),
    10_000,
    `a segment in the playlist of live/${name}`,
    () => text,
  );
  expect(text.includes("#EXT-X-PART:"), text).toBe(lowLatency);
  expect(text.includes("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES"), text).toBe(lowLatency);
}

/**
 * Headless VLC remuxing PLAY_S seconds of the stream's playlist into an MP4 file; resolves with the file once
 * VLC exited and the file holds video. The test's scratch directory is VLC's HOME and holds the file: the
 * unprivileged user may write it.
 */
async function vlcRecord(live: LiveTest, name: string): Promise<string> {
  chmodSync(live.scratch.path, 0o777);
  const out = live.path(`${name}.mp4`);
  const user = asRoot ? ["runuser", "-u", UNPRIVILEGED, "--"] : [];
  const player = live.children.spawn(`vlc ${name}`, [
    ...user, "env", `HOME=${live.scratch.path}`,
    "cvlc", "-vv", "--no-video-title-show", playlistUrl(live, name),
    "--sout", `#std{access=file,mux=mp4,dst=${out}}`,
    "--run-time", String(PLAY_S), "--play-and-exit",
  ]);
  const code = await player.waitExit(30_000);
  expect(code, player.describe()).toBe(0);
  // VLC exits 0 even when it could not open or play the input, leaving an empty MP4: its log says why.
  expect((await probe(out)).video, player.describe()).toBeDefined();
  return out;
}

for (const lowLatency of [true, false]) {
  const kind = lowLatency ? "LL-HLS" : "plain HLS";
  const [avc, hevcName] = lowLatency ? ["avc-ll", "hevc-ll"] : ["avc-plain", "hevc-plain"];
  describe.skipIf(!requireFfmpeg() || !requireVlc())(`VLC plays ${kind} from an RTMP publish`, () => {
    const tests = liveTests(lowLatency ? "vlc-ll" : "vlc-plain", { adjust: hlsConfig(lowLatency) });

    tests.it("H.264 + AAC", async (live) => {
      await live.publishLive(await testSource(), avc);
      await playlistReady(live, avc, lowLatency);
      const out = await vlcRecord(live, avc);
      const copy = await probeTestSourceCopy(out);
      expect(copy.duration, JSON.stringify(copy)).toBeGreaterThanOrEqual(2);
      expect(await decodeErrors(out)).toBe("");
    }, TEST_MS);

    tests.it("HEVC through fMP4", async (live) => {
      const hevc = await publishHevc(live.server.url(hevcName), hevcName);
      try {
        await playlistReady(live, hevcName, lowLatency);
        const out = await vlcRecord(live, hevcName);
        const copy = await probe(out);
        expect(copy.video, JSON.stringify(copy)).toMatchObject({ codecName: "hevc", width: hevc.width, height: hevc.height });
        // The HEVC publish is video only (see live-hls.ts).
        expect(copy.audio).toBeUndefined();
        expect(copy.duration, JSON.stringify(copy)).toBeGreaterThanOrEqual(2);
        expect(await decodeErrors(out)).toBe("");
      } finally {
        await hevc.stop();
      }
    }, TEST_MS);
  });
}
