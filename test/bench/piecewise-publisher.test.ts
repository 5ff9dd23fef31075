import { describe, expect, it } from "bun:test";
import { ChunkWriter } from "../../src/protocol/chunk-writer.ts";
import { MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import { TestRtmpClient } from "../../support/rtmp-test-client.ts";
import { hex } from "../helpers/hex.ts";
import { liveTest } from "../helpers/live-server.ts";
import { waitFor } from "../../support/wait.ts";
import { PiecewisePublisher, pieceEnds } from "../../bench/piecewise-publisher.ts";
import { streamPreamble, syntheticStream } from "../../bench/stream-fixture.ts";

/** The pieces FFmpeg would write for `message` after `before` went out on the same writer. */
function pieces(message: RtmpMessage, chunkSize: number, before: RtmpMessage[] = []): Uint8Array[] {
  const writer = new ChunkWriter();
  writer.chunkSize = chunkSize;
  for (const m of before) writer.encode(m);
  const encoded = writer.encode(message);
  let start = 0;
  return pieceEnds(encoded, message.payload.length, chunkSize).map((end) => encoded.subarray(start, (start = end)));
}

const audio = (timestamp: number, payload: Uint8Array): RtmpMessage => ({
  csid: 4,
  type: MessageType.Audio,
  streamId: 1,
  timestamp,
  payload,
});

const isMedia = (m: RtmpMessage) => m.type === MessageType.Audio || m.type === MessageType.Video;

describe("pieceEnds", () => {
  it("splits a first message into its FMT0 header, each chunk, and each 1-byte FMT3 marker", () => {
    const payload = hex("01 02 03 04 05 06 07 08 09 0a");
    expect(pieces(audio(0x10, payload), 4)).toEqual([
      hex("04 000010 00000a 08 01000000"),
      hex("01 02 03 04"),
      hex("c4"),
      hex("05 06 07 08"),
      hex("c4"),
      hex("09 0a"),
    ]);
  });

  it("gives a later message of another size its 8-byte FMT1 header, as FFmpeg's writes show", () => {
    const first = audio(0, hex("aa bb"));
    expect(pieces(audio(23, hex("01 02 03")), 4096, [first])).toEqual([hex("44 000017 000003 08"), hex("01 02 03")]);
  });

  it("keeps the extended timestamp with the header and with every continuation marker", () => {
    expect(pieces(audio(0x01000000, hex("01 02 03")), 2)).toEqual([
      hex("04 ffffff 000003 08 01000000 01000000"),
      hex("01 02"),
      hex("c4 01000000"),
      hex("03"),
    ]);
  });

  it("handles two- and three-byte basic headers and an empty payload", () => {
    expect(pieces({ ...audio(0, hex("01 02 03")), csid: 70 }, 2)).toEqual([
      hex("00 06 000000 000003 08 01000000"),
      hex("01 02"),
      hex("c0 06"),
      hex("03"),
    ]);
    expect(pieces({ ...audio(0, new Uint8Array(0)), csid: 400 }, 128)).toEqual([
      hex("01 5001 000000 000000 08 01000000"),
    ]);
  });
});

describe("PiecewisePublisher", () => {
  const live = liveTest("bench-piecewise");

  it("publishes through the server: a player receives every media message byte for byte", async () => {
    const got: RtmpMessage[] = [];
    const player = await TestRtmpClient.connect(live.server.url("pieces"), {
      onMessage: (m) => isMedia(m) && got.push({ ...m, payload: m.payload.slice() }),
    });
    try {
      await player.play(await player.createStream(), "pieces");
      const publisher = await PiecewisePublisher.publish(live.server.url("pieces"));
      const id = publisher.streamId;
      const sent = [...streamPreamble(id), ...syntheticStream(2).map((m) => ({ ...m, streamId: id }))].filter(isMedia);
      for (const m of sent) publisher.send(m);
      await waitFor(() => got.length >= sent.length, 10_000, `${sent.length} media messages`);
      publisher.close();
      expect(got.map((m) => [m.type, m.timestamp, m.payload])).toEqual(sent.map((m) => [m.type, m.timestamp, m.payload]));
    } finally {
      await player.close();
    }
  }, 20_000);

  it("rejects with the server's status when the stream is taken", async () => {
    const first = await PiecewisePublisher.publish(live.server.url("taken"));
    try {
      await expect(PiecewisePublisher.publish(live.server.url("taken"))).rejects.toThrow("NetStream.Publish.BadName");
    } finally {
      first.close();
    }
  });

  it("rejects when nothing listens", async () => {
    const port = live.server.port;
    await live.stopServer();
    await expect(PiecewisePublisher.publish(`rtmp://127.0.0.1:${port}/live/x`, { timeoutMs: 2000 })).rejects.toThrow();
  });
});
