/**
 * A player that joins a live stream mid-GOP must start with a clean picture at once: metadata and sequence
 * headers first, then the GOP cache from its keyframe, never a P-frame it cannot decode.
 */
import { describe, expect } from "bun:test";
import { liveTests } from "../helpers/live-server.ts";
import { decodeErrors, fileSize, firstVideoFrame, firstVideoPacket, requireFfmpeg } from "../helpers/media.ts";
import { run } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { isKeyframe, isVideoFrame } from "../helpers/raw-rtmp-client.ts";

describe.skipIf(!requireFfmpeg())("a late joiner", () => {
  const tests = liveTests("late-join");

  tests.it("gets metadata, sequence headers, then a keyframe first, and starts at once", async (live) => {
    const seconds = 6;
    const publisher = await live.publishLive(await testSource(), "late", { seconds });
    // Join about 3 s in, when the live edge is at least 400 ms past the last keyframe (mid-GOP), as seen by
    // a watcher on the stream's own timestamps rather than guessed from the clock.
    const watcher = await live.rawPlayer("late");
    await waitFor(
      () => {
        const frames = watcher.media().filter(isVideoFrame);
        const lastKey = frames.findLast(isKeyframe);
        const edge = frames.at(-1);
        return publisher.elapsedMs > 3_000 && lastKey !== undefined && edge!.timestamp - lastKey.timestamp >= 400;
      },
      5_000,
      "the live edge to be mid-GOP",
      () => watcher.summary(),
    );
    watcher.close();

    const out = live.path("late.flv");
    const player = live.play("late", out, { keepInitialNonKeyframes: true });
    const raw = await live.rawPlayer("late");
    // The live edge once the raw player is in: frames up to it existed before it joined.
    const edgeAtJoin = live.server.server.registry.streams.get("live/late")!.lastTimestamp;
    const firstFrame = await raw.waitFor(isVideoFrame, 5_000, "the first coded video frame");
    const rawMs = firstFrame.at - raw.openedAt;

    const started = () => fileSize(out) > 0 || !player.running;
    await waitFor(started, 10_000, "the late ffmpeg player's first output", () => player.describe());
    expect(fileSize(out), player.describe()).toBeGreaterThan(0);
    const ffmpegMs = performance.now() - player.startedAt;
    console.log(
      `late joiner at ${(player.startedAt - publisher.startedAt).toFixed(0)} ms: raw client's first frame ` +
        `${rawMs.toFixed(1)} ms after connect; ffmpeg's first output ${ffmpegMs.toFixed(0)} ms after spawn`,
    );

    // What the raw player got, in order: onMetaData, then sequence headers, then a keyframe.
    const media = raw.media();
    const firstMediaIndex = raw.events.indexOf(media[0]);
    const metadataIndex = raw.events.findIndex((e) => e.kind === "data" && e.name === "onMetaData");
    expect(metadataIndex, raw.summary()).toBeGreaterThanOrEqual(0);
    expect(metadataIndex, "onMetaData before any media").toBeLessThan(firstMediaIndex);
    const firstVideo = media.find((e) => e.type === 9)!;
    const firstAudio = media.find((e) => e.type === 8)!;
    expect(firstVideo.head, "first video message: AVC sequence header").toEqual([0x17, 0x00]);
    expect(firstAudio.head[0] >> 4, "first audio message: AAC").toBe(10);
    expect(firstAudio.head[1], "first audio message: AAC sequence header").toBe(0);
    expect(isKeyframe(firstFrame), `first coded frame head ${firstFrame.kind === "media" ? firstFrame.head : ""}`).toBe(true);
    // Joined at least 400 ms into a GOP: it gets the frames since its keyframe, which existed before it joined
    // (a server waiting for the next keyframe would send none of them).
    const burst = media.filter((e) => isVideoFrame(e) && e.timestamp <= edgeAtJoin);
    const span = burst.at(-1)!.timestamp - burst[0].timestamp;
    expect(span, `GOP cache burst up to ${edgeAtJoin}; timestamps ${burst.map((e) => e.timestamp)}`).toBeGreaterThanOrEqual(300);

    expect(await publisher.waitExit(seconds * 1000 + 10_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    // FFmpeg kept any leading non-keyframes (-copyinkf), so this is what the server sent.
    expect(await firstVideoPacket(out)).toMatchObject({ keyframe: true });
    expect(await firstVideoFrame(out)).toEqual({ keyFrame: true, pictType: "I" });
    expect(await decodeErrors(out)).toBe("");
  }, 45_000);

  tests.it("shows a libavformat player nothing but audio and video (metadata replayed at timestamp 0)", async (live) => {
    const publisher = await live.publishLive(await testSource(), "meta", { seconds: 6 });
    // Mid-stream, so the GOP cache starts well past timestamp 0.
    await waitFor(() => publisher.elapsedMs > 2_500, 5_000, "the stream to run 2.5 s");
    const result = await run([
      "ffprobe", "-v", "error", "-analyzeduration", "1500000",
      "-show_entries", "stream=codec_type", "-of", "json", live.server.url("meta"),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const types = (JSON.parse(result.stdout).streams as { codec_type: string }[]).map((s) => s.codec_type).sort();
    expect(types, "a data stream here means onMetaData arrived at a non-zero timestamp").toEqual(["audio", "video"]);
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
  }, 30_000);

  tests.it("starts a joiner's audio no later than its first video decode time (B-frames), as VLC needs", async (live) => {
    // libavformat's start time is the earliest presentation time; VLC subtracts it from every decode
    // time and takes a negative one as invalid. With B-frames a keyframe is decoded before it is shown,
    // so audio that starts between the two breaks VLC's timeline. The GOP cache's audio lead prevents it.
    const publisher = await live.publishLive(await testSource({ bframes: true }), "bframes", { seconds: 6 });
    await waitFor(() => publisher.elapsedMs > 2_500, 5_000, "the stream to run 2.5 s");
    const result = await run([
      "ffprobe", "-v", "error", "-read_intervals", "%+1",
      "-show_entries", "format=start_time:packet=codec_type,dts_time,pts_time", "-of", "json", live.server.url("bframes"),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as { format: { start_time: string }; packets: Record<string, string>[] };
    const video = json.packets.filter((p) => p.codec_type === "video");
    expect(video.some((p) => p.pts_time !== p.dts_time), "the source has B-frames").toBe(true);
    const startTime = Number(json.format.start_time);
    expect(startTime, `start time against the first video dts ${video[0].dts_time}`).toBeLessThanOrEqual(Number(video[0].dts_time));
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
  }, 30_000);
});
