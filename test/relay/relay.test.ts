import { beforeAll, describe, expect } from "bun:test";
import type { ServerEvent } from "../../src/events/events.ts";
import { objectField } from "../../src/protocol/command.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { readFlvTags } from "../../support/flv-tags.ts";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";
import { fileSize, publish, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";
import { type Connection, RecordingDestination, commandNames, mediaOutline, timestamps } from "./recording-destination.ts";

/**
 * Everything from publish on: metadata and the two headers, then a keyframe; no media stamped before that
 * keyframe, and each track's timestamps never going back.
 */
function expectCleanStart(connection: Connection): void {
  const outline = mediaOutline(connection);
  expect(outline.slice(0, 4)).toEqual(["data:@setDataFrame", "video:header", "audio:header", "video:key"]);
  const metadata = connection.received.find((m) => m.kind === "data");
  expect(metadata?.kind === "data" && metadata.args[0]).toBe("onMetaData");
  const start = connection.received.find((m) => m.kind === "video" && m.keyframe);
  for (const kind of ["video", "audio"] as const) {
    const times = timestamps(connection, kind);
    expect(times.filter((t) => t < (start?.kind === "video" ? start.timestamp : 0))).toEqual([]);
    expect(times.filter((t, i) => i > 0 && t < times[i - 1])).toEqual([]);
  }
}

async function videoMessages(file: string): Promise<number> {
  const tags = readFlvTags(new Uint8Array(await Bun.file(file).arrayBuffer()));
  return tags.filter((t) => t.type === MessageType.Video).length;
}

function relayEvents(server: TestServer): ServerEvent[] {
  const events: ServerEvent[] = [];
  server.server.events.subscribe((e) => {
    if (e.type === "relay_start" || e.type === "relay_stop") events.push(e);
  });
  return events;
}

describe.skipIf(!requireFfmpeg())("relay to a destination that records what it gets", () => {
  const tests = testsAtOnce(() => new Scope());
  let source = "";
  let sourceVideoFrames = 0;
  let shortSource = "";
  let shortSourceVideoFrames = 0;

  beforeAll(async () => {
    source = await testSource({ seconds: 4 });
    sourceVideoFrames = await videoMessages(source);
    shortSource = await testSource({ seconds: 2 });
    shortSourceVideoFrames = await videoMessages(shortSource);
  });

  async function serverRelayingTo(scope: Scope, url: string, adjust?: (config: TestServer["config"]) => void): Promise<TestServer> {
    const server = await startTestServer((config) => {
      config.relay.destinations = [{ url, streams: [] }];
      adjust?.(config);
    });
    scope.defer(() => server.stop());
    return server;
  }

  // The longest first: the others run beside it.
  tests.it("drops a destination that stops reading and retries it, while players keep up", async (scope) => {
    // Loopback buffers take about 4 MB before a reader that stopped blocks us: 16 Mbit/s fills them in 2 s.
    const big = await testSource({ seconds: 7, cbr: "16M" });
    const destination = new RecordingDestination({
      onReceived: (connection, message) => {
        if (connection.index === 1 && message.kind === "video" && message.keyframe) connection.peer.socket.pause();
      },
    });
    scope.defer(() => destination.stop());
    const server = await serverRelayingTo(scope, `rtmp://127.0.0.1:${destination.port}/live`, (config) => {
      config.timeouts.writeMs = 1_000;
      config.streams.maxSubscriberLagMs = 500;
    });
    const player = await RawRtmpClient.connect(server.port);
    scope.defer(() => player.close());
    await player.play("cam");
    const publisher = publish(scope.children, big, server.url("cam"));
    await waitFor(() => destination.connections.length === 2, 10_000, "a second connection", () => server.logs.tail());
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
    const sent = await videoMessages(big);
    // The waiting player got every video message, however stuck the destination was.
    await waitFor(() => player.media().filter((e) => e.type === 9).length === sent, 5_000, "every video message at the player");
    const failure = server.logs.records().find((r) => r.msg === "relay stopped" && String(r.reason).startsWith("write timeout"));
    expect(failure).toBeDefined();
    expect(Number(failure?.frames_dropped)).toBeGreaterThan(0);
    expect(server.server.relay.totals().framesDropped).toBeGreaterThan(0);
  }, 25_000);

  tests.it("opens with metadata, sequence headers and a keyframe, and closes with FCUnpublish and deleteStream", async (scope) => {
    const destination = new RecordingDestination();
    scope.defer(() => destination.stop());
    const server = await serverRelayingTo(scope, `rtmp://127.0.0.1:${destination.port}/in/{name}_copy?key=abc`);
    const events = relayEvents(server);
    const publisher = publish(scope.children, shortSource, server.url("cam"));
    await waitFor(() => destination.connections.length > 0 && mediaOutline(destination.connections[0]).length > 20, 10_000, "relayed media");
    expect(server.server.relay.status("live/cam")).toMatchObject([{ url: `rtmp://127.0.0.1:${destination.port}/in/cam_copy`, state: "live" }]);
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
    const [connection] = destination.connections;
    await waitFor(() => commandNames(connection).includes("deleteStream"), 5_000, "deleteStream");

    const connect = connection.received[0];
    expect(connect.kind === "command" && connect.name).toBe("connect");
    expect(connect.kind === "command" && objectField(connect.commandObject, "app")).toBe("in");
    expect(connect.kind === "command" && objectField(connect.commandObject, "relayHops")).toBe(1);
    const publishCommand = connection.received.find((m) => m.kind === "command" && m.name === "publish");
    expect(publishCommand?.kind === "command" && publishCommand.args.slice(0, 2)).toEqual(["cam_copy?key=abc", "live"]);
    expect(commandNames(connection).slice(0, 5)).toEqual(["connect", "createStream", "releaseStream", "FCPublish", "publish"]);
    expect(commandNames(connection).slice(-2)).toEqual(["FCUnpublish", "deleteStream"]);
    expectCleanStart(connection);
    // Every frame from the starting keyframe on arrived: the destination is never slower than real time here.
    const videoFrames = mediaOutline(connection).filter((m) => m === "video" || m === "video:key").length;
    expect(videoFrames).toBeGreaterThan(shortSourceVideoFrames - 30);

    const url = `rtmp://127.0.0.1:${destination.port}/in/cam_copy`;
    await waitFor(() => events.length === 2, 5_000, "relay_stop");
    expect(events.map((e) => [e.type, e.stream_key, e.data])).toEqual([
      ["relay_start", "live/cam", { url }],
      ["relay_stop", "live/cam", { url, reason: "unpublished" }],
    ]);
    expect(server.logs.lines.join("\n")).not.toContain("key=abc");
    await waitFor(() => server.server.relay.status("live/cam").length === 0, 5_000, "the relay to be gone");
    expect(server.server.relay.totals()).toMatchObject({ reconnects: 0, destinations: { live: 0, connecting: 0, retrying: 0, stopped: 0 } });
    // The whole file went out (it starts at a keyframe, and FLV framing costs about what RTMP's does).
    expect(server.server.relay.totals().bytesSent).toBeGreaterThan(fileSize(shortSource) * 0.9);
  }, 20_000);

  tests.it("reconnects after the destination drops it, starting again with metadata, headers and a keyframe", async (scope) => {
    const destination = new RecordingDestination({
      onReceived: (connection, message) => {
        // The first connection goes away mid-stream, a second after the start of the second GOP.
        if (connection.index === 1 && message.kind === "video" && mediaOutline(connection).length > 40) destination.drop(connection);
      },
    });
    scope.defer(() => destination.stop());
    const server = await serverRelayingTo(scope, `rtmp://127.0.0.1:${destination.port}/live`);
    const events = relayEvents(server);
    const started = performance.now();
    publish(scope.children, source, server.url("cam"));
    await waitFor(() => destination.connections.length === 2 && mediaOutline(destination.connections[1]).length > 10, 10_000, "a second connection");
    const [first, second] = destination.connections;
    expectCleanStart(first);
    expectCleanStart(second);
    expect(commandNames(second).slice(0, 5)).toEqual(["connect", "createStream", "releaseStream", "FCPublish", "publish"]);
    expect(events.map((e) => e.type)).toEqual(["relay_start", "relay_stop", "relay_start"]);
    expect(events[1].data.reason).not.toBe("unpublished");
    expect(server.server.relay.status("live/cam")).toMatchObject([{ state: "live", reconnects: 1 }]);
    // The retry waited out the first backoff step.
    expect(performance.now() - started).toBeGreaterThan(1_000);
  }, 20_000);

  tests.it("logs a refusal with the destination's code but not the key, and retries with a doubling delay", async (scope) => {
    const destination = new RecordingDestination({
      publishStatus: (connection) => (connection.index < 3 ? "NetStream.Publish.BadName" : "NetStream.Publish.Start"),
    });
    scope.defer(() => destination.stop());
    const server = await serverRelayingTo(scope, `rtmp://127.0.0.1:${destination.port}/live/cam?key=s3cret-key`);
    publish(scope.children, source, server.url("cam"));
    await waitFor(() => server.server.relay.status("live/cam")[0]?.state === "live", 8_000, "the third attempt to get in", () => server.logs.tail());
    const [first, second, third] = destination.connections;
    // Backoff: 1 s after the first refusal, 2 s after the second.
    expect(second.at - first.at).toBeGreaterThan(950);
    expect(third.at - second.at).toBeGreaterThan(1_950);
    const failures = server.logs.records().filter((r) => r.msg === "relay failed");
    expect(failures[0]).toMatchObject({ level: "warn", code: "NetStream.Publish.BadName", error: "NetStream.Publish.BadName: cam… is refused" });
    // The same refusal again is not news: it goes to debug, below this server's level.
    expect(failures.length).toBe(1);
    expect(server.logs.lines.join("\n")).not.toContain("s3cret");
    expect(server.server.relay.status("live/cam")[0].reconnects).toBe(2);
  }, 20_000);

  tests.it("retries a destination that accepts TCP and never answers, and the stream never notices", async (scope) => {
    const accepted: number[] = [];
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void accepted.push(performance.now()), data() {} } });
    scope.defer(() => silent.stop(true));
    const server = await serverRelayingTo(scope, `rtmp://127.0.0.1:${silent.port}/live`, (config) => {
      config.timeouts.handshakeMs = 1_000;
    });
    const player = await RawRtmpClient.connect(server.port);
    scope.defer(() => player.close());
    await player.play("cam");
    const publisher = publish(scope.children, source, server.url("cam"));
    await waitFor(() => accepted.length >= 2, 8_000, "a second attempt", () => server.logs.tail());
    // The first attempt waited out its reply deadline, then the backoff.
    expect(accepted[1] - accepted[0]).toBeGreaterThan(1_900);
    const failure = server.logs.records().find((r) => r.msg === "relay failed");
    expect(String(failure?.error)).toContain("connect: no reply within 1000 ms");
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
    await waitFor(() => player.media().filter((e) => e.type === 9).length === sourceVideoFrames, 5_000, "every video message at the player");
    await waitFor(() => server.server.relay.status("live/cam").length === 0, 3_000, "the relay to give up with the stream");
  }, 20_000);

  tests.it("unpublishes from its destinations when the server shuts down", async (scope) => {
    const destination = new RecordingDestination();
    scope.defer(() => destination.stop());
    const server = await serverRelayingTo(scope, `rtmp://127.0.0.1:${destination.port}/live`);
    const events = relayEvents(server);
    publish(scope.children, source, server.url("cam"));
    await waitFor(() => destination.connections.length === 1 && mediaOutline(destination.connections[0]).length > 10, 10_000, "relayed media");
    await server.stop();
    const [connection] = destination.connections;
    expect(commandNames(connection).slice(-2)).toEqual(["FCUnpublish", "deleteStream"]);
    expect(events.at(-1)?.data).toEqual({ url: `rtmp://127.0.0.1:${destination.port}/live/cam`, reason: "server shutting down" });
    expect(server.server.relay.status("live/cam")).toEqual([]);
  }, 20_000);
});
