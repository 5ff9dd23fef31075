/**
 * A player that stops reading must cost the others nothing: the publisher keeps its real-time pace, a
 * healthy FFmpeg player gets every frame, and the stuck one is dropped once its socket has not drained for
 * timeouts.write.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { liveTest } from "../helpers/live-server.ts";
import { decodeErrors, probe, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { TestRtmpClient } from "../../support/rtmp-test-client.ts";

describe.skipIf(!requireFfmpeg())("a paused player (stops reading)", () => {
  const live = liveTest("slow-player", { adjust: (c) => (c.timeouts.writeMs = 2_000) });
  const clients: TestRtmpClient[] = [];
  afterEach(() => Promise.all(clients.splice(0).map((client) => client.close())));

  it("slows neither the publisher nor another player, and is dropped after timeouts.write", async () => {
    const server = live.server;
    // 16 Mbit/s (filler-padded CBR): loopback socket buffers hold about 4 MB, so a reader that stops is
    // stuck after about 2 s of this, where the 30 KB/s default source would take minutes.
    const source = await testSource({ cbr: "16M" });
    const seconds = 8;
    let closed: { at: number; error: Error | undefined } | null = null;
    const paused = await TestRtmpClient.connect(server.url("busy"), {
      onClose: (error) => (closed = { at: performance.now(), error }),
    });
    clients.push(paused);
    await paused.play(await paused.createStream(), "busy");
    paused.pause();

    const out = live.path("healthy.flv");
    const healthy = live.play("busy", out);
    await server.waitForPlayers("busy", 2);
    const publishedAt = Date.now();
    const publisher = live.publish(source, "busy");

    expect(await publisher.waitExit(seconds * 1000 + 15_000), publisher.describe()).toBe(0);
    // -re paces the publisher at real time: a server that waited for the stuck player would stretch this.
    expect(publisher.elapsedMs, "publisher wall time for 8 s of media").toBeLessThan(seconds * 1000 + 1_500);
    expect(await healthy.waitExit(10_000), healthy.describe()).toBe(0);

    const [original, copy] = await Promise.all([probe(source), probe(out)]);
    expect(copy.video!.packets, "healthy player got every video frame").toBe(original.video!.packets);
    const durations = `copy ${copy.duration} s vs source ${original.duration} s`;
    expect(Math.abs(copy.duration - original.duration), durations).toBeLessThan(0.5);
    expect(await decodeErrors(out)).toBe("");

    // Reading again now drains whatever the kernel still holds, then shows the end: the server dropped it.
    // (A player that had merely fallen behind would still be subscribed, waiting for the next publisher.)
    paused.resume();
    await waitFor(() => closed !== null, 5_000, "the server to close the paused player's connection", () => server.logs.tail());
    // onClose gets no error only after our own close(): this end came from the server.
    expect(closed!.error).toBeInstanceOf(Error);
    const drop = server.logs.records().find((r) => r.msg === "connection closed" && /write|drain/i.test(String(r.reason)));
    expect(drop, `a "connection closed" log naming the stuck write\n${server.logs.tail()}`).toBeDefined();
    // Once it gave up, the server sent nothing more: the player can read at most what the kernel had taken
    // when the server dropped it, however large the socket buffers were (less if the linger ran out first).
    expect(paused.bytesReceived, "bytes the paused player got, against the server's count at the drop").toBeLessThanOrEqual(
      Number(drop!.bytes_out),
    );
    const droppedAt = Date.parse(String(drop!.time));
    console.log(`paused player dropped ${droppedAt - publishedAt} ms after the publisher started (${drop!.reason})`);
    const stopped = () => server.logs.records().some((r) => r.msg === "publish stop");
    await waitFor(stopped, 5_000, "the publish stop", () => server.logs.tail());
    const records = server.logs.records();
    const stopLine = records.findIndex((r) => r.msg === "publish stop");
    const dropLine = records.findIndex((r) => r.msg === "connection closed" && r.conn_id === drop!.conn_id);
    expect(dropLine, "dropped while the stream was still live: before its publish stop").toBeLessThan(stopLine);
  }, 60_000);
});
