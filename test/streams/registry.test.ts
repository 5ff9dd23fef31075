import { describe, expect, it } from "bun:test";
import { FlvLayout } from "../../src/media/flv.ts";
import { waitFor } from "../../support/wait.ts";
import { FakePeer, Publisher, registryUnderTest, streamName } from "./harness.ts";

const NAME = streamName("live/a");

describe("StreamRegistry", () => {
  it("refuses a second publisher while the first is live, under publish_conflict reject", () => {
    const { registry, logs } = registryUnderTest({ publishConflict: "reject" });
    const player = new FakePeer("player");
    registry.play(player, NAME, 1, new FlvLayout());
    const first = new FakePeer("first");
    const publisher = new Publisher(registry.publish(first, NAME)!);
    expect(registry.publish(new FakePeer("second"), NAME)).toBeNull();
    expect(logs.records().filter((r) => r.msg === "publish refused: stream already has a publisher")).toMatchObject([
      { level: "warn", stream_key: "live/a", conn_id: "second", publisher: "first" },
    ]);
    // The first one goes on, unaware.
    expect(first.closed).toBeNull();
    publisher.start();
    publisher.video(0, true);
    expect(player.received()).toEqual(["D0", "VH0", "AH0", "K0"]);
  });

  it("hands the stream to a second publisher under publish_conflict replace, closing the first after what it has queued", async () => {
    const { registry, events } = registryUnderTest({ publishConflict: "replace" });
    const first = new FakePeer("first");
    const old = new Publisher(registry.publish(first, NAME)!);
    old.start();
    old.av(0, 200);
    const player = new FakePeer("player");
    registry.play(player, NAME, 1, new FlvLayout());
    await waitFor(() => player.tags().length > 0, 2_000, "the GOP burst");
    const before = player.received().length;

    const next = new Publisher(registry.publish(new FakePeer("second"), NAME)!);
    expect(first.closed).toEqual({ reason: "replaced by a new publisher", discard: false });
    expect(registry.streams.get("live/a")?.publisher?.id).toBe("second");
    // A takeover is seamless for players: not told, they go on at the new publisher's next keyframe.
    expect(player.notices).toEqual([]);
    // The replaced publication is inert: no room, and its media goes nowhere.
    expect(old.publication.reserve(100)).toBeNull();
    old.av(200, 280);
    old.publication.end();
    expect(registry.streams.get("live/a")?.publisher?.id).toBe("second");
    next.start(9000);
    next.video(9000);
    next.video(9040, true);
    next.audio(9060);
    expect(player.received().slice(before)).toEqual(["D0", "VH9000", "AH9000", "K9040", "A9060"]);
    expect(events.filter((e) => e.type === "publish_start" || e.type === "publish_stop").map((e) => `${e.type} ${e.conn_id}`)).toEqual([
      "publish_start first",
      "publish_stop first",
      "publish_start second",
    ]);
  });

  it("always replaces a publisher silent for longer than publisher_idle, even under reject", () => {
    const { registry } = registryUnderTest({ publishConflict: "reject", publisherIdleMs: 5_000 });
    const stale = new FakePeer("stale");
    registry.publish(stale, NAME);
    stale.lastReadAt = performance.now() - 60_000;
    expect(registry.publish(new FakePeer("reconnected"), NAME)).not.toBeNull();
    expect(stale.closed?.reason).toMatch(/^stale publisher \(silent for \d+ ms\) replaced$/);
    expect(stale.closed?.discard).toBe(false);
    expect(registry.streams.get("live/a")?.publisher?.id).toBe("reconnected");
  });

  it("forgets a stream once it has neither publisher nor players, and not before", () => {
    const { registry, events } = registryUnderTest();
    const playback = registry.play(new FakePeer("player"), NAME, 1, new FlvLayout());
    const publication = registry.publish(new FakePeer("pub"), NAME)!;
    publication.end();
    // A player still waits for the next publisher.
    expect(registry.streams.has("live/a")).toBe(true);
    playback.end();
    expect(registry.streams.has("live/a")).toBe(false);
    registry.publish(new FakePeer("pub2"), NAME)!.end();
    expect(registry.streams.size).toBe(0);
    expect(events.filter((e) => e.type.startsWith("stream_")).map((e) => e.type)).toEqual([
      "stream_create",
      "stream_delete",
      "stream_create",
      "stream_delete",
    ]);
  });

  it("keeps one stream per key, apart from any other key's", () => {
    const { registry } = registryUnderTest();
    const a = new Publisher(registry.publish(new FakePeer("a"), streamName("live/a"))!);
    const b = registry.publish(new FakePeer("b"), streamName("live/b"));
    expect(b).not.toBeNull();
    const player = new FakePeer("player");
    registry.play(player, streamName("live/b"), 1, new FlvLayout());
    a.start();
    a.av(0, 80);
    expect(player.received()).toEqual([]);
    expect([...registry.streams.keys()].sort()).toEqual(["live/a", "live/b"]);
  });
});
