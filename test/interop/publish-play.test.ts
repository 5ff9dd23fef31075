/**
 * The basic promise, with real FFmpeg on both ends: what `ffmpeg -re` publishes, an FFmpeg player receives
 * intact; when the publisher stops, players are told so, FFmpeg exits, and a raw player stays subscribed
 * for the next publisher.
 */
import { describe, expect } from "bun:test";
import { UserControlEventType } from "../../src/protocol/control.ts";
import { liveTests } from "../helpers/live-server.ts";
import { decodeErrors, probeTestSourceCopy, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { type ServerEvent, isUserControl, isVideoFrame, userControlStreamId } from "../helpers/raw-rtmp-client.ts";

describe.skipIf(!requireFfmpeg())("publish and play with FFmpeg", () => {
  const tests = liveTests("publish-play");

  tests.it("relays an ffmpeg -re H.264+AAC publish to an ffmpeg player: both streams arrive and decode with zero errors", async (live) => {
    const seconds = 5;
    const { publisher, joinedAfterS, out, player } = await live.publishAndRecord(await testSource(), "test", { seconds });

    expect(await publisher.waitExit(seconds * 1000 + 10_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);

    const copy = await probeTestSourceCopy(out);
    // The player joined `joinedAfterS` in; the GOP cache gives it up to a second before that.
    const expectedSeconds = seconds - joinedAfterS - 1;
    expect(copy.duration).toBeGreaterThanOrEqual(expectedSeconds);
    expect(copy.video!.packets).toBeGreaterThanOrEqual(Math.floor(expectedSeconds * 25));
    expect(await decodeErrors(out)).toBe("");
  }, 45_000);

  tests.it("ends an ffmpeg player's input when the publisher stops, so it exits 0", async (live) => {
    const publisher = await live.publishLive(await testSource(), "ending", { seconds: 3 });
    const player = live.play("ending", null);

    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
    // NetStream.Play.UnpublishNotify (and Stream EOF) is FFmpeg's end of input: it must not wait for more.
    expect(await player.waitExit(5_000), player.describe()).toBe(0);
  }, 30_000);

  tests.it("tells a player the publisher left (UnpublishNotify, Stream EOF), keeps it subscribed, feeds it the next one", async (live) => {
    const source = await testSource();
    const first = await live.publishLive(source, "relive", { seconds: 2 });
    const viewer = await live.rawClient();
    const streamId = await viewer.play("relive");
    await viewer.waitFor(isVideoFrame, 5_000, "video from the first publisher");

    expect(await first.waitExit(15_000), first.describe()).toBe(0);
    const notify = await viewer.waitForStatus("NetStream.Play.UnpublishNotify", 5_000);
    const isEof = (e: ServerEvent) => isUserControl(e, UserControlEventType.StreamEof);
    const eof = await viewer.waitFor(isEof, 5_000, "User Control Stream EOF");
    expect(userControlStreamId(eof)).toBe(streamId);
    expect(notify.kind === "command" ? notify.streamId : -1).toBe(streamId);
    const endedAt = viewer.events.length;
    expect(viewer.isClosed, viewer.summary()).toBe(false);

    // Same connection, no new play: the next publisher's stream starts with its own sequence header.
    const second = live.publish(source, "relive", { seconds: 2 });
    const isVideo = (e: ServerEvent) => e.kind === "media" && e.type === 9;
    const nextVideo = await viewer.waitFor(isVideo, 10_000, "video from the second publisher", endedAt);
    expect(nextVideo.kind === "media" ? nextVideo.head : [], "AVC sequence header first").toEqual([0x17, 0x00]);
    await viewer.waitFor(isVideoFrame, 5_000, "a coded frame from the second publisher", endedAt);
    expect(await second.waitExit(15_000), second.describe()).toBe(0);
  }, 45_000);
});
