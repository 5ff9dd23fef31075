/**
 * Real players of a real stream over HTTP: FFmpeg reads HTTP-FLV and decodes it cleanly from a keyframe, a
 * WebSocket gets the same FLV byte stream (header, metadata at 0, sequence headers, keyframe first) that
 * FFmpeg decodes too, both are connections like any other, and both end when the publisher leaves.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { decodeData } from "../../src/protocol/command.ts";
import { readFlvTags } from "../../support/flv-tags.ts";
import { decodeErrors, firstVideoPacket, play, probe, requireFfmpeg } from "../helpers/media.ts";
import { Children } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor, within } from "../../support/wait.ts";
import { httpLiveTest, httpUrl, recordEvents } from "./harness.ts";

describe.skipIf(!requireFfmpeg())("HTTP-FLV and WS-FLV playback", () => {
  const live = httpLiveTest("http-flv");
  const children = new Children();
  afterEach(() => children.killAll());

  it("FFmpeg decodes HTTP-FLV, a WebSocket gets a valid FLV stream, and both end with the publisher", async () => {
    const events = recordEvents(live);
    const publisher = await live.publishLive(await testSource(), "test");
    const out = live.path("http.flv");
    const httpPlayer = play(children, httpUrl(live, "/live/test.flv"), out);

    const messages: Uint8Array[] = [];
    let closeCode = 0;
    const ws = new WebSocket(httpUrl(live, "/live/test.flv").replace("http:", "ws:"));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => messages.push(new Uint8Array(e.data as ArrayBuffer));
    const wsClosed = new Promise<void>((resolve) => (ws.onclose = (e) => ((closeCode = e.code), resolve())));

    await live.server.waitForPlayers("test", 2);
    const listed = (await (await fetch(httpUrl(live, "/api/connections"))).json()) as { connections: Record<string, unknown>[] };
    const players = listed.connections.filter((c) => c.role === "player");
    expect(players.map((c) => c.protocol).sort()).toEqual(["http-flv", "ws-flv"]);
    for (const c of players) expect(c.stream_key).toBe("live/test");

    expect(await publisher.waitExit(20_000), publisher.describe()).toBe(0);
    expect(await httpPlayer.waitExit(10_000), httpPlayer.describe()).toBe(0);
    await within(wsClosed, 10_000, "the WebSocket to close");
    expect(closeCode, "the WebSocket closed normally when the stream ended").toBe(1000);

    // FFmpeg's copy of the HTTP-FLV stream: both tracks, clean decode, a keyframe first.
    const copy = await probe(out);
    expect(copy.video?.codecName).toBe("h264");
    expect(copy.audio?.codecName).toBe("aac");
    expect(copy.video!.packets).toBeGreaterThan(50);
    expect(await decodeErrors(out)).toBe("");
    expect((await firstVideoPacket(out))?.keyframe).toBe(true);

    // The WebSocket's bytes, parsed: the file header (audio + video), metadata at 0, both sequence
    // headers, then media from a keyframe.
    const flv = Buffer.concat(messages);
    expect([...flv.subarray(0, 13)]).toEqual([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
    const tags = readFlvTags(flv);
    expect(tags[0].type).toBe(18);
    expect(tags[0].timestamp).toBe(0);
    expect(decodeData(tags[0].data).name).toBe("onMetaData");
    const [video, audio] = [tags[1], tags[2]].sort((a, b) => b.type - a.type);
    expect([video.type, video.data[0], video.data[1]]).toEqual([9, 0x17, 0]);
    expect([audio.type, audio.data[0] >> 4, audio.data[1]]).toEqual([8, 10, 0]);
    const firstFrame = tags.find((t) => t.type === 9 && t.data[1] === 1)!;
    expect(firstFrame.data[0] >> 4, "first coded video frame is a keyframe").toBe(1);
    const wsFile = live.path("ws.flv");
    await Bun.write(wsFile, flv);
    expect(await decodeErrors(wsFile)).toBe("");
    expect((await probe(wsFile)).video!.packets).toBeGreaterThan(50);

    // The same events as any player, with the protocol named.
    await waitFor(() => events.filter((e) => e.type === "connection_close").length >= 3, 5_000, "connection_close events");
    for (const protocol of ["http-flv", "ws-flv"]) {
      const accept = events.find((e) => e.type === "connection_accept" && e.data.protocol === protocol);
      expect(accept, `connection_accept for ${protocol}`).toBeDefined();
      const id = accept!.conn_id;
      expect(events.find((e) => e.type === "play_start" && e.conn_id === id)?.data.protocol).toBe(protocol);
      expect(events.find((e) => e.type === "play_stop" && e.conn_id === id)?.data.protocol).toBe(protocol);
      const close = events.find((e) => e.type === "connection_close" && e.conn_id === id);
      expect(close?.data).toMatchObject({ role: "player", protocol });
      expect(Number(close?.data.bytes_out)).toBeGreaterThan(100_000);
    }
    expect(live.server.server.connections.size, "every connection is gone").toBe(0);
  }, 60_000);
});
