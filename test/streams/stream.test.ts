import { describe, expect, it } from "bun:test";
import { FlvLayout } from "../../src/media/flv.ts";
import { FrameArena } from "../../src/media/frame.ts";
import { encodeData } from "../../src/protocol/command.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { waitFor } from "../../support/wait.ts";
import { FakePeer, Publisher, registryUnderTest, streamName } from "./harness.ts";

const KEY = "live/a";

/** A registry with one publisher on live/a that has sent metadata and sequence headers at `start`. */
function published(settings: Parameters<typeof registryUnderTest>[0] = {}) {
  const core = registryUnderTest(settings);
  const publisher = new Publisher(core.registry.publish(new FakePeer("pub"), streamName(KEY))!);
  publisher.start();
  return { ...core, publisher };
}

function play(registry: ReturnType<typeof registryUnderTest>["registry"], id: string) {
  const peer = new FakePeer(id);
  const playback = registry.play(peer, streamName(KEY), 1, new FlvLayout());
  return { peer, playback };
}

/** A joiner's GOP burst comes a moment after play (see Stream.addSubscriber). */
async function burst(peer: FakePeer): Promise<void> {
  await waitFor(() => peer.tags().length > 0, 2_000, `${peer.id}'s GOP burst`);
}

/** The shorthand of `av(from, to)` as a player receives it (see harness.ts's shape). */
function av(from: number, to: number, gopMs = 1000): string[] {
  const out: string[] = [];
  for (let t = from; t < to; t += 40) out.push(`${t % gopMs === 0 ? "K" : "V"}${t}`, `A${t + 20}`);
  return out;
}

describe("Stream", () => {
  it("replays metadata at 0, the sequence headers, then the GOP from its keyframe with the audio before it, to a late joiner", async () => {
    const { registry, publisher } = published();
    publisher.av(0, 1240);
    const { peer } = play(registry, "late");
    await burst(peer);
    // The half second of audio before the keyframe at 1000 comes first; the headers are stamped at its start.
    const lead = Array.from({ length: 13 }, (_, i) => `A${500 + i * 40}`);
    expect(peer.received()).toEqual(["D0", "VH500", "AH500", ...lead, ...av(1000, 1240)]);
    // The metadata is onMetaData itself, not the @setDataFrame that carried it in.
    expect(new TextDecoder().decode(peer.tags()[0].data.subarray(3, 13))).toBe("onMetaData");
    publisher.av(1240, 1320);
    expect(peer.received().slice(-4)).toEqual(av(1240, 1320));
  });

  it("covers the live frames of the join delay with the burst, sending none of them twice", async () => {
    const { registry, publisher } = published();
    publisher.av(0, 1240);
    const { peer } = play(registry, "late");
    publisher.av(1240, 1320);
    await burst(peer);
    expect(peer.received().slice(16)).toEqual(av(1000, 1320));
  });

  it("starts a joiner at the next keyframe, counting what it skips, when the cache holds no GOP yet", async () => {
    const { registry, publisher, events, stats } = published();
    publisher.av(40, 400);
    const { peer, playback } = play(registry, "early");
    await burst(peer);
    // Nothing to replay but metadata and headers, stamped at the live edge.
    expect(peer.received()).toEqual(["D0", "VH380", "AH380"]);
    publisher.av(400, 1080);
    expect(peer.received().slice(3)).toEqual(av(1000, 1080));
    playback.end();
    // 400 to 960: 15 pictures and their 15 audio frames.
    expect(events.find((e) => e.type === "play_stop")?.data.dropped).toBe(30);
    expect(stats.framesDropped).toBe(30);
  });

  it("gives a joiner metadata and headers only, then the next keyframe, without a GOP cache", async () => {
    const { registry, publisher } = published({ gopCache: false });
    publisher.av(0, 1240);
    const { peer } = play(registry, "late");
    await burst(peer);
    publisher.av(1240, 2040);
    expect(peer.received()).toEqual(["D0", "VH1220", "AH1220", ...av(2000, 2040)]);
  });

  it("sends no burst to a client that plays and leaves at once", async () => {
    const { registry, publisher } = published();
    publisher.av(0, 1240);
    const gone = play(registry, "gone");
    gone.playback.end();
    // Its burst would have come first: the timers of equal delays run in order.
    const { peer } = play(registry, "stays");
    await burst(peer);
    expect(gone.peer.received()).toEqual([]);
    expect(registry.streams.get(KEY)?.subscribers.map((s) => s.peer.id)).toEqual(["stays"]);
  });

  it("tells a waiting player when the stream is published and gives it everything from the first message", () => {
    const { registry } = registryUnderTest();
    const { peer } = play(registry, "waiting");
    expect(peer.received()).toEqual([]);
    const publisher = new Publisher(registry.publish(new FakePeer("pub"), streamName(KEY))!);
    publisher.start();
    publisher.av(0, 80);
    expect(peer.notices).toEqual([`published ${KEY}`]);
    expect(peer.received()).toEqual(["D0", "VH0", "AH0", ...av(0, 80)]);
  });

  it("tells its players when the publisher leaves, and keeps them for the next publisher", async () => {
    const { registry, publisher } = published();
    publisher.av(0, 200);
    const { peer } = play(registry, "p1");
    await burst(peer);
    const before = peer.received().length;
    publisher.publication.end();
    expect(peer.notices).toEqual([`unpublished ${KEY}`]);
    expect(registry.streams.get(KEY)?.subscribers.length).toBe(1);
    // Nothing of the old publication is replayed to a player joining now.
    const later = play(registry, "p2");
    const next = new Publisher(registry.publish(new FakePeer("pub2"), streamName(KEY))!);
    next.start(5000);
    next.av(5000, 5080);
    const fresh = ["D0", "VH5000", "AH5000", ...av(5000, 5080)];
    expect(peer.notices).toEqual([`unpublished ${KEY}`, `published ${KEY}`]);
    expect(peer.received().slice(before)).toEqual(fresh);
    expect(later.peer.received()).toEqual(fresh);
  });

  it("forwards timed data to the players of the moment, at its own time, and keeps none of it for joiners", async () => {
    const { registry, publisher } = published();
    publisher.av(0, 80);
    const { peer } = play(registry, "p1");
    await burst(peer);
    const cue = encodeData("onCuePoint", { name: "ad" });
    publisher.publication.data({ csid: 4, type: MessageType.DataAmf0, streamId: 1, timestamp: 70, payload: cue }, "onCuePoint");
    expect(peer.received().slice(-1)).toEqual(["D70"]);
    const late = play(registry, "late");
    await burst(late.peer);
    expect(late.peer.received().filter((s) => s.startsWith("D"))).toEqual(["D0"]);
  });

  it("holds back neither the publisher nor another player for a player that takes nothing", () => {
    const { registry } = registryUnderTest();
    const stalled = play(registry, "stalled");
    stalled.peer.reading = false;
    const healthy = play(registry, "healthy");
    const publisher = new Publisher(registry.publish(new FakePeer("pub"), streamName(KEY))!);
    publisher.start();
    publisher.av(0, 400);
    expect(healthy.peer.received()).toEqual(["D0", "VH0", "AH0", ...av(0, 400)]);
    expect(stalled.peer.received()).toEqual([]);
    expect(stalled.peer.outbox.queuedBytes).toBeGreaterThan(0);
  });

  it("gives back every frame it stored once its players and publisher are gone, so their memory is reused", async () => {
    const { registry } = registryUnderTest();
    const stalled = play(registry, "stalled");
    stalled.peer.reading = false;
    const publisher = new Publisher(registry.publish(new FakePeer("pub"), streamName(KEY))!);
    publisher.start();
    publisher.av(0, 1240);
    const joiner = play(registry, "late");
    await burst(joiner.peer);
    // Small frames: all of the publication in one slab, which the pool (a stack) hands out next once it is free.
    expect(publisher.slabs.size).toBe(1);
    const slab = [...publisher.slabs][0];
    const nextSlab = () => {
      const arena = new FrameArena();
      const frame = arena.frame(MessageType.Audio, 0, new Uint8Array(8), false);
      frame.release();
      arena.close();
      return frame.payload.buffer;
    };
    joiner.playback.end();
    joiner.peer.close("left");
    publisher.publication.end();
    // The stalled player's queue still holds frames of it: the slab is not free.
    expect(nextSlab()).not.toBe(slab);
    stalled.playback.end();
    stalled.peer.close("left");
    expect(nextSlab()).toBe(slab);
    expect(registry.streams.size).toBe(0);
  });
});
