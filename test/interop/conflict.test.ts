/**
 * One publisher per key: a second one is refused with NetStream.Publish.BadName (publish_conflict: reject,
 * the default) while the first keeps going, or takes over (replace) with the first disconnected.
 */
import { describe, expect } from "bun:test";
import { liveTests } from "../helpers/live-server.ts";
import { decodeErrors, probe, requireFfmpeg, videoFrameSizes } from "../helpers/media.ts";
import { SMALL_SOURCE, testSource } from "../../support/test-source.ts";

describe.skipIf(!requireFfmpeg())("a second publisher of a live stream key", () => {
  const tests = liveTests("conflict");

  tests.it("is refused with NetStream.Publish.BadName (level error) while the first keeps going", async (live) => {
    const seconds = 6;
    const [large, small] = await Promise.all([testSource(), testSource(SMALL_SOURCE)]);
    const { publisher: first, joinedAfterS, out, player } = await live.publishAndRecord(large, "dup", { seconds });

    // FFmpeg as the intruder: it must give up quickly and with an error, not hang or get through.
    const second = live.publish(small, "dup", { seconds });
    // A raw intruder too, to see the exact status the server speaks before closing.
    const raw = await live.rawClient();
    const status = await raw.publish("dup");
    expect(status).toEqual({ level: "error", code: "NetStream.Publish.BadName" });
    expect(await raw.closedWithin(3_000), `refused publisher's connection closed by the server; ${raw.summary()}`).toBe(true);
    expect(raw.closedLocally).toBe(false);

    // Refused, it gives up by itself (a bounded wait), with an error.
    const secondCode = await second.waitExit(5_000);
    expect(secondCode, second.describe()).not.toBe(0);

    // The first publisher was never disturbed: it runs to its end and its player gets it all, one source only.
    expect(await first.waitExit(seconds * 1000 + 10_000), first.describe()).toBe(0);
    expect(first.elapsedMs, "first publisher ran its full length").toBeGreaterThanOrEqual(seconds * 1000 - 500);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    const copy = await probe(out);
    expect(copy.duration).toBeGreaterThanOrEqual(seconds - joinedAfterS - 1);
    expect(await videoFrameSizes(out)).toEqual(["320x240"]);
    expect(await decodeErrors(out)).toBe("");
  }, 45_000);

  tests.it('takes over under publish_conflict: "replace", and the first publisher is disconnected', async (live) => {
    await live.restart((c) => (c.streams.publishConflict = "replace"));
    const [large, small] = await Promise.all([testSource(), testSource(SMALL_SOURCE)]);
    const first = await live.publishLive(large, "dup", { seconds: 8 });

    const secondSeconds = 4;
    const second = live.publish(small, "dup", { seconds: secondSeconds });
    // Kicked: the server closes the first publisher's connection for the newcomer, and its ffmpeg exits
    // (a bounded wait) long before its 8 s of media are sent.
    await first.waitExit(5_000);
    const closes = live.server.logs.records().filter((r) => r.msg === "connection closed").map((r) => r.reason);
    expect(closes, "the first publisher's connection closed for the second").toContain("replaced by a new publisher");

    // Whoever plays now sees the newcomer's stream.
    await live.server.waitUntilLive("dup");
    const out = live.path("second.flv");
    const player = live.play("dup", out);
    expect(await second.waitExit(secondSeconds * 1000 + 10_000), second.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    expect(await videoFrameSizes(out)).toEqual(["160x120"]);
    expect(await decodeErrors(out)).toBe("");
  }, 45_000);
});
