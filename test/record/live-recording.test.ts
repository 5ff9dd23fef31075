/**
 * Recording through the real server, in-process, with FFmpeg publishing in real time: what was published is
 * what the files hold (segments included, frame for frame), only the selected streams are recorded, and a
 * graceful stop finalizes a file mid-publish.
 */
import { describe, expect } from "bun:test";
import { readdirSync } from "node:fs";
import type { ServerEvent } from "../../src/events/events.ts";
import { type LiveTest, liveTests } from "../helpers/live-server.ts";
import { decodeErrors, firstVideoPacket, probe, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { flvTags, mediaTags } from "../../support/fed-stream.ts";
import { indexAsRead, playability, readRecording, recordingsIn } from "./recording-file.ts";

describe.skipIf(!requireFfmpeg())("recording a live FFmpeg publish", () => {
  const tests = liveTests("live-recording");

  /** Restarts the test's server recording into its scratch directory; returns that and the recording events seen. */
  async function recordingServer(live: LiveTest, segmentMs = 0, streams: string[] = []) {
    const dir = live.path("recordings");
    const server = await live.restart((config) => {
      config.recording = { enabled: true, dir, segmentMs, streams, format: "flv" };
    });
    const events: ServerEvent[] = [];
    server.server.events.subscribe((e) => {
      if (e.type === "record_start" || e.type === "record_stop") events.push(e);
    });
    return { dir, events };
  }

  tests.it("records what FFmpeg published, byte for byte, into one complete file", async (live) => {
    const { dir, events } = await recordingServer(live);
    const source = await testSource({ seconds: 3 });
    const publisher = live.publish(source, "whole");
    expect(await publisher.waitExit(20_000), publisher.describe()).toBe(0);
    await waitFor(() => events.some((e) => e.type === "record_stop"), 10_000, "record_stop");

    const [path] = recordingsIn(dir);
    const file = await readRecording(path);
    const published = mediaTags(await flvTags(source));
    expect(file.media.length).toBe(published.length);
    file.media.forEach((tag, i) => expect(Buffer.compare(tag.data, published[i].data)).toBe(0));
    expect(file.meta.filesize).toBe(file.bytes.length);
    expect(events.map((e) => [e.type, e.stream_key, e.data.path])).toEqual([
      ["record_start", "live/whole", path],
      ["record_stop", "live/whole", path],
    ]);
    expect(events[1].data).toMatchObject({ size: file.bytes.length, duration_sec: file.meta.duration });

    const probed = await probe(path);
    expect(probed.duration).toBeCloseTo(3, 1);
    expect(probed.video).toMatchObject({ codecName: "h264", width: 320, height: 240 });
    expect(probed.audio).toMatchObject({ codecName: "aac" });
    expect(await decodeErrors(path)).toBe("");
    expect(await firstVideoPacket(path)).toMatchObject({ keyframe: true });
    expect((await indexAsRead(path)).map((e) => e.position)).toEqual(
      (file.meta.keyframes as { filepositions: number[] }).filepositions,
    );
  }, 40_000);

  tests.it("segments a selected stream with no frame lost or repeated, and leaves an unselected one alone", async (live) => {
    const { dir } = await recordingServer(live, 1_000, ["live/seg*"]);
    const source = await testSource({ seconds: 3 });
    const recorded = live.publish(source, "segmented");
    const ignored = live.publish(source, "other");
    expect(await recorded.waitExit(20_000), recorded.describe()).toBe(0);
    expect(await ignored.waitExit(20_000), ignored.describe()).toBe(0);
    await waitFor(() => live.server.logs.records().some((r) => r.msg === "publish stop" && r.stream_key === "live/segmented"), 5_000, "publish stop");
    await live.stopServer();

    const paths = recordingsIn(dir);
    expect(paths.every((p) => p.slice(dir.length + 1).startsWith("live_segmented_"))).toBe(true);
    expect(paths.length).toBe(3);
    const files = await Promise.all(paths.map(readRecording));
    const published = mediaTags(await flvTags(source));
    const all = files.flatMap((f) => f.media);
    expect(all.length).toBe(published.length);
    all.forEach((tag, i) => expect(Buffer.compare(tag.data, published[i].data)).toBe(0));
    for (const played of await Promise.all(paths.map(playability))) {
      expect(played.errors).toBe("");
      expect(played.startsWithKeyframe).toBe(true);
      expect(played.probed.duration).toBeGreaterThan(0.9);
    }
  }, 40_000);

  tests.it("finalizes the file of a stream still publishing when the server stops", async (live) => {
    const { dir, events } = await recordingServer(live);
    live.publish(await testSource(), "cut");
    await waitFor(() => events.length > 0, 10_000, "record_start");
    const [path] = recordingsIn(dir);
    // Two seconds of media through the stream (and so to the recorder), by the stream's own timestamps.
    const at = () => live.server.server.registry.streams.get("live/cut")?.lastTimestamp ?? 0;
    await waitFor(() => at() >= 2_000, 10_000, "2 s of media published");
    await live.stopServer();

    expect(events.map((e) => e.type)).toEqual(["record_start", "record_stop"]);
    const file = await readRecording(path);
    expect(file.meta.filesize).toBe(file.bytes.length);
    expect(file.meta.duration).toBeGreaterThan(1.5);
    expect(file.meta.duration).toBe(events[1].data.duration_sec as number);
    expect((await probe(path)).duration).toBeCloseTo(file.meta.duration as number, 1);
    expect(await decodeErrors(path)).toBe("");
    expect(readdirSync(dir)).toHaveLength(1);
  }, 30_000);
});
