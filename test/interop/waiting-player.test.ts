/**
 * A player may arrive before the publisher (as with nginx-rtmp and SRS): it waits, then gets the whole
 * stream from its first message.
 */
import { describe, expect, it } from "bun:test";
import { liveTest } from "../helpers/live-server.ts";
import { decodeErrors, probe, probeTestSourceCopy, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";

describe.skipIf(!requireFfmpeg())("a player waiting before the publisher starts", () => {
  const live = liveTest("waiting");

  it("receives the stream, all of it, once the publisher arrives", async () => {
    const source = await testSource({ seconds: 4 });
    const out = live.path("waited.flv");
    const player = live.play("later", out);
    await live.server.waitForPlayers("later", 1);
    expect(player.running, player.describe()).toBe(true);

    const publisher = live.publish(source, "later");
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);

    const [original, copy] = await Promise.all([probe(source), probeTestSourceCopy(out)]);
    // Subscribed from the first message on: every packet the publisher sent.
    expect(copy.video!.packets).toBe(original.video!.packets);
    expect(copy.audio!.packets).toBe(original.audio!.packets);
    expect(await decodeErrors(out)).toBe("");
  }, 40_000);
});
