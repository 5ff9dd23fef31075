/**
 * Two keys, two publishers at once: each player gets its own stream and nothing of the other's.
 */
import { describe, expect, it } from "bun:test";
import { liveTest } from "../helpers/live-server.ts";
import { decodeErrors, probe, requireFfmpeg, videoFrameSizes } from "../helpers/media.ts";
import { SMALL_SOURCE, testSource } from "../../support/test-source.ts";

describe.skipIf(!requireFfmpeg())("two streams published at once", () => {
  const live = liveTest("isolation");

  it("stay isolated: each player's copy has only its own stream's resolution", async () => {
    const seconds = 4;
    const [large, small] = await Promise.all([testSource(), testSource(SMALL_SOURCE)]);
    const publishers = await Promise.all([
      live.publishLive(large, "a", { seconds }),
      live.publishLive(small, "b", { seconds }),
    ]);
    const outA = live.path("a.flv");
    const outB = live.path("b.flv");
    const players = [live.play("a", outA), live.play("b", outB)];

    for (const child of [...publishers, ...players]) {
      expect(await child.waitExit(seconds * 1000 + 10_000), child.describe()).toBe(0);
    }
    const [copyA, copyB] = await Promise.all([probe(outA), probe(outB)]);
    expect(copyA.video).toMatchObject({ width: 320, height: 240 });
    expect(copyB.video).toMatchObject({ width: 160, height: 120 });
    expect(copyA.audio).toMatchObject({ codecName: "aac" });
    expect(copyB.audio).toMatchObject({ codecName: "aac" });
    // Every decoded frame, not just the first SPS: a frame of the other stream would show up here.
    expect(await videoFrameSizes(outA)).toEqual(["320x240"]);
    expect(await videoFrameSizes(outB)).toEqual(["160x120"]);
    expect(await decodeErrors(outA)).toBe("");
    expect(await decodeErrors(outB)).toBe("");
  }, 45_000);
});
