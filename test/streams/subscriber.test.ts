import { describe, expect, it } from "bun:test";
import { FlvLayout } from "../../src/media/flv.ts";
import { Frame } from "../../src/media/frame.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { ServerStats } from "../../src/shared/server-stats.ts";
import { MAX_QUEUE_BYTES, Subscriber } from "../../src/streams/subscriber.ts";
import { AUDIO_HEADER, audioFrame, FakePeer, VIDEO_HEADER, videoFrame } from "./harness.ts";

const MAX_LAG_MS = 500;

const video = (timestamp: number, keyframe = false) => new Frame(MessageType.Video, timestamp, videoFrame(keyframe), keyframe, false);
const audio = (timestamp: number) => new Frame(MessageType.Audio, timestamp, audioFrame(), false, false);
const videoHeader = (timestamp = 0) => new Frame(MessageType.Video, timestamp, VIDEO_HEADER, false, true);

/** A player on a fake connection; its clock is the `now` each test passes with a frame. */
function player(stats: ServerStats | null = new ServerStats()) {
  const peer = new FakePeer("p1");
  const sub = new Subscriber(peer, 1, new FlvLayout(), MAX_LAG_MS, stats);
  return { peer, sub, stats };
}

describe("Subscriber", () => {
  it("starts a player of a video stream at a keyframe, dropping and counting what comes before it", () => {
    const { peer, sub, stats } = player();
    sub.sendKeep(videoHeader());
    sub.sendMedia(video(0), 1000, true);
    sub.sendMedia(audio(20), 1020, true);
    sub.sendMedia(video(40, true), 1040, true);
    sub.sendMedia(audio(60), 1060, true);
    expect(peer.received()).toEqual(["VH0", "K40", "A60"]);
    expect(sub.dropped).toBe(2);
    expect(stats!.framesDropped).toBe(2);
  });

  it("starts a player of an audio-only stream at its first frame", () => {
    const { peer, sub } = player();
    sub.sendMedia(audio(0), 1000, false);
    sub.sendMedia(audio(23), 1023, false);
    expect(peer.received()).toEqual(["A0", "A23"]);
    expect(sub.dropped).toBe(0);
  });

  it("never skips a player that keeps up, however long it plays", () => {
    const { peer, sub } = player();
    for (let t = 0; t < 10_000; t += 40) {
      sub.sendMedia(video(t, t % 2000 === 0), 1000 + t, true);
      // The end of the event-loop turn: the socket takes what was queued.
      peer.outbox.flush();
    }
    expect(peer.received().length).toBe(250);
    expect(sub.dropped).toBe(0);
  });

  it("skips a player further behind than the lag bound to the next keyframe, counting every frame it loses", () => {
    const { peer, sub, stats } = player();
    peer.reading = false;
    sub.sendKeep(videoHeader());
    for (let t = 0; t <= 2000; t += 40) sub.sendMedia(video(t, t % 1000 === 0), 1000 + t, true);
    // Lag is the age of the oldest queued frame: K2000, queued at 3000.
    expect(sub.lag(3100)).toBe(100);
    peer.resume();
    // At 520 the oldest queued frame (0) had waited 520 ms: the 13 queued frames go, then 520 and everything
    // up to the next keyframe (11 more). From 1000 the queue grows again, within the bound until 1520, which
    // drops the 13 queued since 1000, and the 11 after it up to 2000.
    expect(peer.received()).toEqual(["VH0", "K2000"]);
    expect(sub.dropped).toBe(13 + 1 + 11 + 13 + 1 + 11);
    expect(stats!.framesDropped).toBe(sub.dropped);
  });

  it("keeps metadata and sequence headers queued through a skip", () => {
    const { peer, sub } = player();
    peer.reading = false;
    sub.sendMedia(video(0, true), 1000, true);
    sub.sendKeep(new Frame(MessageType.Audio, 100, AUDIO_HEADER, false, true));
    sub.sendMedia(video(600), 1600, true);
    sub.sendMedia(video(1000, true), 2000, true);
    peer.resume();
    expect(peer.received()).toEqual(["AH100", "K1000"]);
    expect(sub.dropped).toBe(2);
  });

  it("lets an audio-only player behind the bound lose its queue and go on with the next frame", () => {
    const { peer, sub } = player();
    peer.reading = false;
    for (let t = 0; t <= 600; t += 100) sub.sendMedia(audio(t), 1000 + t, false);
    peer.resume();
    expect(peer.received()).toEqual(["A600"]);
    expect(sub.dropped).toBe(6);
  });

  it("closes a player whose queue passes the hard bound, throwing the queue away", () => {
    const { peer, sub } = player();
    peer.reading = false;
    // Headers are never dropped: only the hard bound stops a connection that takes none of them.
    const big = new Frame(MessageType.Video, 0, new Uint8Array(1024 * 1024), false, true);
    for (let i = 0; i <= MAX_QUEUE_BYTES / big.payload.length && peer.closed === null; i++) sub.sendKeep(big);
    expect(peer.closed).toEqual({ reason: `send queue over ${MAX_QUEUE_BYTES} bytes`, discard: true });
    expect(peer.outbox.queuedBytes).toBe(0);
  });

  it("records the time from play to its first frame once, in the server's histogram", () => {
    const { sub, stats } = player();
    sub.sendMedia(video(0, true), sub.since + 250, true);
    sub.sendMedia(video(40), sub.since + 290, true);
    expect(stats!.firstFrame.count).toBe(1);
    expect(stats!.firstFrame.sum).toBeCloseTo(0.25, 6);
  });

  it("counts a relay destination's drops on itself only, with no server statistics", () => {
    const { peer, sub } = player(null);
    sub.sendMedia(video(0), 1000, true);
    sub.sendMedia(video(40, true), 1040, true);
    expect(peer.received()).toEqual(["K40"]);
    expect(sub.dropped).toBe(1);
  });
});
