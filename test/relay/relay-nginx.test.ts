import { afterAll, beforeAll, describe, expect } from "bun:test";
import { join } from "node:path";
import { Scope, testsAtOnce } from "../helpers/at-once.ts";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";
import {
  decodeErrors,
  fileSize,
  firstVideoPacket,
  probe,
  publish,
  requireFfmpeg,
  scratchDir,
} from "../helpers/media.ts";
import type { Child, Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { NginxDestination, requireNginx } from "./nginx-destination.ts";

/**
 * An FFmpeg player of nginx recording to `out`, including frames before the first keyframe (FFmpeg drops
 * those by default, which would hide a relay that starts mid-GOP). Every packet is flushed as it comes, so
 * the file is complete whenever the player is stopped.
 */
function nginxPlayer(children: Children, url: string, out: string): Child {
  return children.spawn(`player ${url}`, [
    "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
    "-i", url,
    "-c", "copy", "-copyinkf", "-flush_packets", "1", "-f", "flv", "-y", out,
  ]);
}

/** What nginx passed on to a player that was there before the relay published: a clean H.264 + AAC start. */
async function expectPlayableFromAKeyframe(file: string): Promise<void> {
  const probed = await probe(file);
  expect(probed.video?.codecName).toBe("h264");
  expect(probed.audio?.codecName).toBe("aac");
  expect((await firstVideoPacket(file))?.keyframe).toBe(true);
  expect(await decodeErrors(file)).toBe("");
}

describe.skipIf(!requireFfmpeg() || !requireNginx())("relay to nginx-rtmp", () => {
  const tests = testsAtOnce(() => new Scope());
  const scratch = scratchDir("relay-nginx");
  let source = "";

  beforeAll(async () => {
    source = await testSource({ seconds: 8 });
  });

  afterAll(() => scratch.remove());

  async function nginx(scope: Scope, label: string): Promise<NginxDestination> {
    const destination = new NginxDestination(join(scratch.path, label), freePort());
    scope.defer(() => destination.stop());
    return destination;
  }

  async function relayingServer(scope: Scope, urls: (string | { url: string; streams: string[] })[]): Promise<TestServer> {
    const server = await startTestServer((config) => {
      config.relay.destinations = urls.map((u) => (typeof u === "string" ? { url: u, streams: [] } : u));
    });
    scope.defer(() => server.stop());
    return server;
  }

  const relayState = (server: TestServer, key: string) => server.server.relay.status(key)[0]?.state;

  tests.it("reaches a destination that comes up late, and again after it crashes and restarts", async (scope) => {
    const destination = await nginx(scope, "late");
    destination.holdPublishForPlayer = true;
    const server = await relayingServer(scope, [`rtmp://127.0.0.1:${destination.port}/live`]);
    const publisher = publish(scope.children, source, server.url("cam"));
    const failed = () => server.logs.records().some((r) => r.msg === "relay failed");
    await waitFor(failed, 5_000, "a failed first attempt", () => server.logs.tail());

    await destination.start();
    const before = join(scratch.path, "before-crash.flv");
    nginxPlayer(scope.children, destination.url("cam"), before);
    await waitFor(() => relayState(server, "live/cam") === "live", 8_000, "the relay to go live", () => server.logs.tail());
    await waitFor(() => fileSize(before) > 15_000, 5_000, "media through nginx");

    await destination.kill();
    await waitFor(() => relayState(server, "live/cam") === "retrying", 5_000, "the relay to notice");
    await destination.start();
    const after = join(scratch.path, "after-restart.flv");
    const player = nginxPlayer(scope.children, destination.url("cam"), after);
    await waitFor(() => relayState(server, "live/cam") === "live", 8_000, "the relay to go live again", () => server.logs.tail());
    await waitFor(() => fileSize(after) > 15_000, 5_000, "media through nginx again");
    // The publisher leaving ends the relay, which unpublishes from nginx.
    publisher.kill();
    await waitFor(() => server.server.relay.status("live/cam").length === 0, 5_000, "the relay to finish");
    // nginx keeps a player waiting for the next publisher.
    player.kill();
    await player.exited;

    await expectPlayableFromAKeyframe(before);
    await expectPlayableFromAKeyframe(after);
    expect((await probe(after)).video?.packets).toBeGreaterThan(10);
    const events = server.logs.records().filter((r) => r.msg === "relay live");
    expect(events.length).toBe(2);
  }, 40_000);

  tests.it("logs a refusal with the destination's code and retries until the name is free", async (scope) => {
    const destination = await nginx(scope, "refusal");
    await destination.start();
    const short = await testSource({ seconds: 2 });
    const squatter = publish(scope.children, short, destination.url("taken"));
    await waitFor(() => destination.publishes("taken").length === 1, 5_000, "the first publisher at nginx");
    const server = await relayingServer(scope, [`rtmp://127.0.0.1:${destination.port}/live`]);
    const relayStarts: string[] = [];
    server.server.events.subscribe((e) => {
      if (e.type === "relay_start") relayStarts.push(String(e.data.url));
    });
    publish(scope.children, source, server.url("taken"));
    const refused = () => server.logs.records().find((r) => r.msg === "relay failed");
    await waitFor(() => refused() !== undefined, 5_000, "the refusal", () => server.logs.tail());
    expect(refused()).toMatchObject({ level: "warn", code: "NetStream.Publish.BadName", stream_key: "live/taken" });
    expect(await squatter.waitExit(10_000), squatter.describe()).toBe(0);
    await waitFor(() => relayStarts.length === 1, 10_000, "the relay to get in", () => server.logs.tail());
    expect(relayStarts).toEqual([`rtmp://127.0.0.1:${destination.port}/live/taken`]);
  }, 30_000);

  tests.it("fills in {app} and {name}, keeps the query for the destination, and honours streams filters", async (scope) => {
    const destination = await nginx(scope, "templates");
    await destination.start();
    const at = `rtmp://127.0.0.1:${destination.port}`;
    const server = await relayingServer(scope, [
      `${at}/{app}/{name}_t?key=s3cret&n={name}`,
      `${at}/live?key=abc`,
      { url: `${at}/live/only_b`, streams: ["live/b*"] },
    ]);
    const short = await testSource({ seconds: 3 });
    const publishers = [publish(scope.children, short, server.url("a")), publish(scope.children, short, server.url("b2"))];
    await waitFor(() => destination.publishes().length === 5, 8_000, "five publishes at nginx", () => JSON.stringify(destination.notified));
    const got = destination.publishes().map((p) => `${p.name} ${new URLSearchParams(p.args).toString()}`);
    expect(got.sort()).toEqual(["a key=abc", "a_t key=s3cret&n=a", "b2 key=abc", "b2_t key=s3cret&n=b2", "only_b "]);
    expect(server.server.relay.status("live/a").map((s) => s.url).sort()).toEqual([`${at}/live/a`, `${at}/live/a_t`]);
    for (const publisher of publishers) expect(await publisher.waitExit(10_000), publisher.describe()).toBe(0);
    const logs = server.logs.lines.join("\n");
    expect(logs).not.toContain("s3cret");
    expect(logs).not.toContain("key=abc");
  }, 30_000);
});
