/**
 * Enhanced RTMP (HEVC, AV1, VP9 as OBS 30+ and FFmpeg 6.1+ send them): the FFmpeg here is too old to publish
 * it, so a raw client sends real encoder output. The server must answer connect's codec declarations, pass
 * every message through unchanged, start a late joiner on the sequence start and a keyframe, and read the
 * codec and picture size from the configuration record.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { objectField, decodeCommand } from "../../src/protocol/command.ts";
import { MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import { TestRtmpClient } from "../../support/rtmp-test-client.ts";
import { type EnhancedCodec, enhancedVideoStream } from "../helpers/enhanced-stream.ts";
import { toHex } from "../helpers/hex.ts";
import { liveTest } from "../helpers/live-server.ts";
import { requireFfmpeg } from "../helpers/media.ts";
import { waitFor } from "../../support/wait.ts";

const CODEC_NAMES: Record<EnhancedCodec, string> = { hvc1: "H265", av01: "AV1", vp09: "VP9" };

describe.skipIf(!requireFfmpeg())("Enhanced RTMP", () => {
  const live = liveTest("enhanced-rtmp");
  const clients: TestRtmpClient[] = [];
  afterEach(() => Promise.all(clients.splice(0).map((c) => c.close())));

  it("answers an Enhanced RTMP connect with the codecs and capabilities it forwards", async () => {
    const replies: RtmpMessage[] = [];
    const client = await TestRtmpClient.connect(live.server.url("x"), {
      connectFields: { fourCcList: ["hvc1", "av01", "vp09"] },
      onMessage: (m) => m.type === MessageType.CommandAmf0 && replies.push({ ...m, payload: m.payload.slice() }),
    });
    clients.push(client);
    const result = decodeCommand(replies[0].payload);
    expect(result.name).toBe("_result");
    expect(objectField(result.commandObject, "videoFourCcInfoMap")).toEqual({ "*": 4 });
    expect(objectField(result.commandObject, "audioFourCcInfoMap")).toEqual({ "*": 4 });
    expect(objectField(result.commandObject, "capsEx")).toBe(0x0e);
    expect(objectField(result.commandObject, "fourCcList")).toEqual(["*"]);
  });

  for (const codec of ["hvc1", "av01", "vp09"] as const) {
    it(`passes ${codec} through unchanged and starts a late joiner on its sequence start and a keyframe`, async () => {
      const { messages, width, height } = await enhancedVideoStream(codec);
      const publisher = await TestRtmpClient.connect(live.server.url(codec));
      clients.push(publisher);
      const streamId = await publisher.createStream();
      await publisher.publish(streamId, codec);
      const send = (i: number) =>
        publisher.send({ csid: 6, type: MessageType.Video, streamId, timestamp: messages[i].timestamp, payload: messages[i].payload });
      // The sequence start, then coded frames 0-14 (keyframes at 0 and 10): the joiner lands mid-GOP.
      for (let i = 0; i <= 15; i++) send(i);
      await waitFor(() => live.server.logs.records().some((r) => r.msg === "codec detected"), 5_000, "codec detection");

      const received: Uint8Array[] = [];
      const player = await TestRtmpClient.connect(live.server.url(codec), {
        onMessage: (m) => m.type === MessageType.Video && received.push(m.payload.slice()),
      });
      clients.push(player);
      await player.play(await player.createStream(), codec);
      await waitFor(() => received.length >= 6, 5_000, "the GOP cache (sequence start, keyframe 10, frames 11-14)");
      for (let i = 16; i < messages.length; i++) send(i);
      // Coded frame 10 (message 11) is the last keyframe before the join: the joiner gets the sequence start,
      // then coded frames 10 to 29.
      expect(messages[11].keyframe && !messages[12].keyframe).toBe(true);
      const expected = [messages[0], ...messages.slice(11)].map((m) => toHex(m.payload));
      await waitFor(() => received.length >= expected.length, 5_000, "every later frame");
      expect(received.map(toHex)).toEqual(expected);

      const detected = live.server.logs.records().find((r) => r.msg === "codec detected");
      expect(detected).toMatchObject({ kind: "video", codec: CODEC_NAMES[codec] });
      // VP9's configuration record carries no picture size.
      if (codec !== "vp09") expect(detected).toMatchObject({ width, height });
    }, 30_000);
  }
});
