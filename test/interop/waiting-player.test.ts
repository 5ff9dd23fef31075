/**
 * A player may arrive before the publisher (as with nginx-rtmp and SRS): it waits, then gets the whole
 * stream from its first message.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";
import { Children, decodeErrors, play, probe, publish, requireFfmpeg, scratchDir, testSource } from "../helpers/media.ts";

describe.skipIf(!requireFfmpeg())("a player waiting before the publisher starts", () => {
  const children = new Children();
  const scratch = scratchDir("waiting");
  let server: TestServer;
  let source: string;

  beforeAll(async () => {
    source = await testSource({ seconds: 4 });
  });
  beforeEach(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    await children.killAll();
    await server.stop();
  });
  afterAll(() => scratch.remove());

  it("receives the stream, all of it, once the publisher arrives", async () => {
    const out = join(scratch.path, "waited.flv");
    const player = play(children, server.url("later"), out);
    await server.waitForPlayers("later", 1);
    expect(player.running, player.describe()).toBe(true);

    const publisher = publish(children, source, server.url("later"));
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);

    const [original, copy] = await Promise.all([probe(source), probe(out)]);
    expect(copy.video).toMatchObject({ codecName: "h264", width: 320, height: 240 });
    expect(copy.audio).toMatchObject({ codecName: "aac" });
    // Subscribed from the first message on: every packet the publisher sent.
    expect(copy.video!.packets).toBe(original.video!.packets);
    expect(copy.audio!.packets).toBe(original.audio!.packets);
    expect(await decodeErrors(out)).toBe("");
  }, 40_000);
});
