/**
 * Two keys, two publishers at once: each player gets its own stream and nothing of the other's.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { type TestServer, startTestServer, waitUntilLive } from "../helpers/live-server.ts";
import {
  Children,
  decodeErrors,
  play,
  probe,
  publish,
  requireFfmpeg,
  scratchDir,
  testSource,
  videoFrameSizes,
} from "../helpers/media.ts";

describe.skipIf(!requireFfmpeg())("two streams published at once", () => {
  const children = new Children();
  const scratch = scratchDir("isolation");
  let server: TestServer;
  let large: string;
  let small: string;

  beforeAll(async () => {
    [large, small] = await Promise.all([testSource(), testSource({ size: "160x120", frequency: 440 })]);
  });
  beforeEach(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    await children.killAll();
    await server.stop();
  });
  afterAll(() => scratch.remove());

  it("stay isolated: each player's copy has only its own stream's resolution", async () => {
    const seconds = 4;
    const publishers = [
      publish(children, large, server.url("a"), { seconds }),
      publish(children, small, server.url("b"), { seconds }),
    ];
    await Promise.all([waitUntilLive(server.port, "a"), waitUntilLive(server.port, "b")]);
    const outA = join(scratch.path, "a.flv");
    const outB = join(scratch.path, "b.flv");
    const players = [play(children, server.url("a"), outA), play(children, server.url("b"), outB)];

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
