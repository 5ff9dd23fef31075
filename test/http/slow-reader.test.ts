/**
 * HTTP-FLV and WS-FLV readers that stop reading must cost nothing: the server stops writing to them (what
 * it handed over stays bounded by the socket buffers and one write), drops them after timeouts.write, and
 * meanwhile the publisher keeps its real-time pace and an RTMP player its latency.
 */
import { afterEach, describe, expect, it } from "bun:test";
import type { Connection } from "../../src/shared/connections.ts";
import { probe, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { httpLiveTest, RawHttpClient } from "./harness.ts";

const WRITE_TIMEOUT_MS = 2_000;

describe.skipIf(!requireFfmpeg())("paused HTTP-FLV and WS-FLV readers", () => {
  const live = httpLiveTest("http-slow", { adjust: (c) => (c.timeouts.writeMs = WRITE_TIMEOUT_MS) });
  const readers: RawHttpClient[] = [];
  afterEach(() => {
    for (const r of readers.splice(0)) r.close();
  });

  it("stop being written to, are dropped after timeouts.write, and slow nobody down", async () => {
    const server = live.server;
    // 16 Mbit/s: loopback socket buffers (a few MB) fill within about 2 s of a reader stopping.
    const source = await testSource({ cbr: "16M" });
    const seconds = 8;
    const rtmp = await live.rawPlayer("busy");
    const httpPort = server.server.httpPort!;
    // Both ask before the stream exists (they wait for it), and never read a byte.
    const upgrade = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" };
    for (const headers of [{}, upgrade] as Record<string, string>[]) {
      const reader = await RawHttpClient.request(httpPort, "/live/busy.flv", headers);
      reader.pause();
      readers.push(reader);
    }
    const publisher = live.publish(source, "busy");
    await server.waitForPlayers("busy", 3);
    const flvPlayers = (): Connection[] => [...server.server.connections.values()].filter((c) => c.protocol.endsWith("-flv"));
    expect(flvPlayers().map((c) => c.protocol).sort()).toEqual(["http-flv", "ws-flv"]);
    const ids = flvPlayers().map((c) => c.id);

    expect(await publisher.waitExit(seconds * 1000 + 15_000), publisher.describe()).toBe(0);
    // -re paces the publisher at real time: a server that waited for a stuck reader would stretch this.
    expect(publisher.elapsedMs, "publisher wall time for 8 s of media").toBeLessThan(seconds * 1000 + 1_500);

    // Both dropped for the stuck write (their buffers full, the server handed them nothing more for
    // timeouts.write), while the stream was live: logged before its publish stop.
    const stopped = () => server.logs.records().some((r) => r.msg === "publish stop");
    await waitFor(stopped, 5_000, "the publish stop", () => server.logs.tail());
    const records = server.logs.records();
    const stopLine = records.findIndex((r) => r.msg === "publish stop");
    const held: number[] = [];
    for (const id of ids) {
      const dropLine = records.findIndex((r) => r.msg === "connection closed" && r.conn_id === id);
      const drop = records[dropLine];
      expect(drop?.reason, `${id} closed for its stuck write\n${server.logs.tail()}`).toMatch(/^write timeout/);
      expect(dropLine, "dropped before the publish stopped").toBeLessThan(stopLine);
      held.push(Number(drop.bytes_out));
      console.log(`paused reader ${id}: the server handed over ${drop.bytes_out} bytes, then stopped writing`);
      expect(Number(drop.bytes_out), "bounded by the socket buffers and one write").toBeLessThan(16 * 1024 * 1024);
    }

    // The RTMP player got every video frame, never a second behind the publisher's pace.
    const media = rtmp.media().filter((m) => m.type === 9 && m.head[1] === 1);
    const original = await probe(source);
    expect(media.length).toBe(original.video!.packets);
    // Arrival time minus media time, against the earliest frame: how far behind its pace a frame came.
    const offsets = media.map((m) => m.at - m.timestamp);
    const earliest = Math.min(...offsets);
    const worst = Math.max(...offsets) - earliest;
    console.log(`RTMP player beside the paused readers: worst lateness ${worst.toFixed(1)} ms`);
    expect(worst).toBeLessThan(1_000);

    // Reading again, each paused reader gets what its socket held, then the end: the server let go of it.
    for (const reader of readers) reader.resume();
    await waitFor(() => readers.every((r) => r.closedAt !== null), 10_000, "both paused readers to see the end");
    const sourceBytes = Bun.file(source).size;
    for (const reader of readers) expect(reader.received).toBeLessThan(sourceBytes / 2);
    expect(Math.max(...held)).toBeGreaterThan(0);
  }, 60_000);
});
