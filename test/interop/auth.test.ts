/**
 * Auth through the real server with real clients: each mode lets through what it must and refuses what it
 * must, out loud (onStatus ...Unauthorized at level error, which FFmpeg prints), then auth_failed and the
 * close; a callback that hangs holds only its own connection, whose later messages wait for the decision.
 */
import { describe, expect, it } from "bun:test";
import { renameSync, writeFileSync } from "node:fs";
import { signStreamKey } from "../../src/shared/signature.ts";
import type { ServerEvent } from "../../src/events/events.ts";
import { encodeData } from "../../src/protocol/command.ts";
import { Csid, MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import { AUDIO, VIDEO } from "../fixtures/sequence-headers.ts";
import { hex } from "../helpers/hex.ts";
import { type Fixture, testsAtOnce } from "../helpers/at-once.ts";
import { LiveTest, liveTest, liveTests } from "../helpers/live-server.ts";
import { requireFfmpeg } from "../helpers/media.ts";
import { type Child } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import {
  type RawRtmpClient,
  frameSkips,
  statusCode,
  statusLevel,
  videoFramesSince,
} from "../helpers/raw-rtmp-client.ts";
import { type Received as CallbackRequest, Receiver } from "../hooks/harness.ts";

const TOKEN = "tok-3f9a1c7e";
const WRONG = "bad-8d2b4e60";
const PUBLISH_REFUSED = { level: "error", code: "NetStream.Publish.Unauthorized" };

/** Every event the test's server emits from now on, in emission order. */
function recordEvents(live: LiveTest): ServerEvent[] {
  const events: ServerEvent[] = [];
  live.server.server.events.subscribe((e) => events.push(e));
  return events;
}

/**
 * Each refusal of `action` left its trail: auth_failed with the action and a reason holding none of
 * `secrets`, then connection_close of the same connection, promptly: the client closes as soon as it is
 * told, so a close that takes seconds is a server that stopped listening (the 5 s linger is its backstop).
 */
async function expectRefusals(events: ServerEvent[], action: "publish" | "play", count: number, secrets: string[]) {
  const failures = () => events.filter((e) => e.type === "auth_failed" && e.data.action === action);
  const closedAfter = (failure: ServerEvent) =>
    events.slice(events.indexOf(failure)).some((e) => e.type === "connection_close" && e.conn_id === failure.conn_id);
  const trails = () => events.map((e) => `${e.type}(${e.conn_id ?? ""})`).join(" ");
  const complete = () => failures().length >= count && failures().every(closedAfter);
  await waitFor(complete, 2_500, `${count} ${action} refusal(s), each followed by its connection_close`, trails);
  expect(failures().length).toBe(count);
  for (const failure of failures()) {
    expect(typeof failure.data.reason).toBe("string");
    for (const secret of secrets) expect(String(failure.data.reason)).not.toContain(secret);
  }
}

function expectNotLogged(live: LiveTest, secrets: string[]): void {
  for (const secret of secrets) {
    expect(live.server.logs.lines.filter((line) => line.includes(secret)), `log lines holding "${secret}"`).toEqual([]);
  }
}

/** FFmpeg ran into the server's refusal: a non-zero exit, and its stderr quotes the onStatus description. */
async function expectRefusedFfmpeg(child: Child, description: string): Promise<void> {
  expect(await child.waitExit(10_000), child.describe()).not.toBe(0);
  expect(child.stderr, child.describe()).toContain(`Server error: ${description}`);
}

describe.skipIf(!requireFfmpeg())("auth.mode token", () => {
  const tests = liveTests("auth-token", {
    adjust: (c) => {
      c.auth.mode = "token";
      c.auth.tokens = { "live/x": TOKEN };
    },
  });

  tests.it("lets FFmpeg publish with the right token in the stream name, and a player with it watch", async (live) => {
    const events = recordEvents(live);
    // waitUntilLive plays the same name, token included: a refused play would never see a frame.
    const publisher = await live.publishLive(await testSource(), `x?token=${TOKEN}`, { seconds: 2 });
    expect(await publisher.waitExit(12_000), publisher.describe()).toBe(0);
    expect(events.filter((e) => e.type === "auth_failed")).toEqual([]);
    expectNotLogged(live, [TOKEN]);
  }, 20_000);

  tests.it("refuses FFmpeg publishing with a wrong or no token: it exits non-zero, printing the server's reason", async (live) => {
    const events = recordEvents(live);
    const source = await testSource();
    const wrong = live.publish(source, `x?token=${WRONG}`, { seconds: 1 });
    const missing = live.publish(source, "x", { seconds: 1 });
    await expectRefusedFfmpeg(wrong, "Authentication failed: invalid token.");
    await expectRefusedFfmpeg(missing, "Authentication failed: token missing.");
    await expectRefusals(events, "publish", 2, [TOKEN, WRONG]);
    expectNotLogged(live, [TOKEN, WRONG]);
  }, 20_000);

  tests.it("answers a refused publish or play with onStatus ...Unauthorized at level error, then closes", async (live) => {
    const events = recordEvents(live);
    const publisher = await live.rawClient();
    expect(await publisher.publish(`x?token=${WRONG}`)).toEqual(PUBLISH_REFUSED);
    const player = await live.rawClient();
    const played = await player.play(`x?token=${WRONG}`).then(
      () => "allowed",
      (e: unknown) => String(e),
    );
    expect(played).toContain("NetStream.Play.Unauthorized");
    expect(statusLevel(await player.waitForStatus("NetStream.Play.Unauthorized", 5_000))).toBe("error");
    for (const client of [publisher, player]) {
      expect(await client.closedWithin(5_000), client.summary()).toBe(true);
      expect(client.closedLocally).toBe(false);
    }
    await expectRefusedFfmpeg(live.play(`x?token=${WRONG}`, null), "Authentication failed: invalid token.");
    await expectRefusals(events, "publish", 1, [WRONG]);
    await expectRefusals(events, "play", 2, [WRONG]);
    expectNotLogged(live, [TOKEN, WRONG]);
  }, 20_000);

  tests.it("takes the token from connect's tcUrl (OBS's server field) when the stream name has none", async (live) => {
    const events = recordEvents(live);
    const tcUrl = `rtmp://127.0.0.1:${live.server.port}/live?token=${TOKEN}`;
    const source = await testSource();
    // The name's own token comes first: a wrong one there is not rescued by the tcUrl's.
    const named = live.publish(source, `x?token=${WRONG}`, { seconds: 1, tcUrl });
    await expectRefusedFfmpeg(named, "Authentication failed: invalid token.");
    const publisher = live.publish(source, "x", { seconds: 1, tcUrl });
    expect(await publisher.waitExit(10_000), publisher.describe()).toBe(0);
    expect(events.some((e) => e.type === "publish_start" && e.stream_key === "live/x")).toBe(true);
    await expectRefusals(events, "publish", 1, [TOKEN, WRONG]);
    expectNotLogged(live, [TOKEN, WRONG]);
  }, 20_000);
});

describe.skipIf(!requireFfmpeg())("auth.actions [publish]", () => {
  const tests = liveTests("auth-actions", {
    adjust: (c) => {
      c.auth.mode = "token";
      c.auth.actions = ["publish"];
      c.auth.tokens = { "live/x": TOKEN };
    },
  });

  tests.it("lets players in without a token and still checks publishers", async (live) => {
    const events = recordEvents(live);
    const intruder = await live.rawClient();
    expect(await intruder.publish("x")).toEqual(PUBLISH_REFUSED);
    const publisher = live.publish(await testSource(), `x?token=${TOKEN}`, { seconds: 2 });
    await live.server.waitUntilLive("x");
    expect(await publisher.waitExit(12_000), publisher.describe()).toBe(0);
    await expectRefusals(events, "publish", 1, [TOKEN]);
    expect(events.filter((e) => e.type === "auth_failed" && e.data.action === "play")).toEqual([]);
    expectNotLogged(live, [TOKEN]);
  }, 20_000);
});

describe.skipIf(!requireFfmpeg())("auth.mode sign", () => {
  const secret = "sign-secret-51c0";
  const tests = liveTests("auth-sign", {
    adjust: (c) => {
      c.auth.mode = "sign";
      c.auth.secret = secret;
    },
  });
  const now = () => Math.floor(Date.now() / 1000);
  /** The HMAC part of EXPIRES-HEX: what must never be logged. */
  const mac = (sign: string) => sign.slice(sign.indexOf("-") + 1);

  tests.it("lets a URL signed with signStreamKey publish and play", async (live) => {
    const events = recordEvents(live);
    const sign = signStreamKey("live/s", secret, now() + 3600);
    const publisher = await live.publishLive(await testSource(), `s?sign=${sign}`, { seconds: 2 });
    expect(await publisher.waitExit(12_000), publisher.describe()).toBe(0);
    expect(events.filter((e) => e.type === "auth_failed")).toEqual([]);
    expectNotLogged(live, [mac(sign)]);
  }, 20_000);

  tests.it("refuses an expired and a forged signature, to a raw client and to FFmpeg", async (live) => {
    const events = recordEvents(live);
    const expired = signStreamKey("live/s", secret, now() - 60);
    const forged = signStreamKey("live/s", "not-the-secret", now() + 3600);
    const source = await testSource();
    for (const [sign, reason] of [
      [expired, "signature expired"],
      [forged, "invalid signature"],
    ]) {
      const client = await live.rawClient();
      expect(await client.publish(`s?sign=${sign}`)).toEqual(PUBLISH_REFUSED);
      const publisher = live.publish(source, `s?sign=${sign}`, { seconds: 1 });
      await expectRefusedFfmpeg(publisher, `Authentication failed: ${reason}.`);
    }
    await expectRefusals(events, "publish", 4, [mac(expired), mac(forged)]);
    const reasons = events.filter((e) => e.type === "auth_failed").map((e) => e.data.reason);
    expect(reasons).toEqual(["signature expired", "signature expired", "invalid signature", "invalid signature"]);
    expectNotLogged(live, [mac(expired), mac(forged)]);
  }, 20_000);
});

/** What an encoder sends right behind its publish command: metadata, both sequence headers, a few frames. */
function firstMessages(streamId: number): RtmpMessage[] {
  const message = (type: number, timestamp: number, payload: Uint8Array): RtmpMessage => {
    const csid = type === MessageType.Audio ? Csid.Audio : type === MessageType.Video ? Csid.Video : Csid.Data;
    return { csid, type, streamId, timestamp, payload };
  };
  const frame = (head: number[], size: number) => {
    const payload = new Uint8Array(size).fill(0x55);
    payload.set(head);
    return payload;
  };
  const metadata = { width: 640, height: 360, videocodecid: 7, audiocodecid: 10 };
  const messages = [
    message(MessageType.DataAmf0, 0, encodeData("@setDataFrame", "onMetaData", metadata)),
    message(MessageType.Video, 0, hex(VIDEO[1].payload)),
    message(MessageType.Audio, 0, hex(AUDIO[0].payload)),
  ];
  for (let i = 0; i < 4; i++) {
    messages.push(message(MessageType.Video, i * 40, frame([i === 0 ? 0x17 : 0x27, 1, 0, 0, 0], 1000 - i * 100)));
    messages.push(message(MessageType.Audio, i * 40, frame([0xaf, 1], 20 + i)));
  }
  return messages;
}

/** Messages as a player records them: "data NAME" or "video|audio TIMESTAMP SIZE". */
function outline(messages: RtmpMessage[]): string[] {
  return messages.map((m) => {
    // The server forwards @setDataFrame("onMetaData", ...) as onMetaData(...).
    if (m.type === MessageType.DataAmf0) return "data onMetaData";
    return `${m.type === MessageType.Video ? "video" : "audio"} ${m.timestamp} ${m.payload.length}`;
  });
}

/** What `client` received from its event `from` on, outlined like outline(). */
function receivedOutline(client: RawRtmpClient, from: number): string[] {
  return client.events.slice(from).flatMap((e) => {
    if (e.kind === "data") return [`data ${e.name}`];
    if (e.kind === "media") return [`${e.type === 9 ? "video" : "audio"} ${e.timestamp} ${e.size}`];
    return [];
  });
}

/** Video frames a player must get while a callback is held: 1 s of the 25 fps test source. */
const FED_FRAMES = 25;

/** Every video frame of the 25 fps test source reached `player`, none skipped. */
function expectEveryFrame(player: RawRtmpClient): void {
  expect(frameSkips(player, 40), player.summary()).toEqual([]);
}

/** An auth callback's JSON body, as the receiver got it. */
function callbackBody(request: CallbackRequest): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(request.body)) as Record<string, unknown>;
}

describe.skipIf(!requireFfmpeg())("auth.mode callback", () => {
  /** A test's own callback receiver, its server asking it (callback_timeout 3 s), and that server's events. */
  class CallbackTest implements Fixture {
    readonly receiver = new Receiver();
    readonly live = new LiveTest("auth-callback");
    events: ServerEvent[] = [];

    async start(): Promise<void> {
      await this.live.restart((c) => {
        c.auth.mode = "callback";
        c.auth.callbackUrl = this.receiver.url("/auth");
        c.auth.callbackTimeoutMs = 3_000;
      });
      this.events = recordEvents(this.live);
    }

    bodies(): Record<string, unknown>[] {
      return this.receiver.received.map(callbackBody);
    }

    /** Whether anything of the hung publisher reached its stream: its start, or what its headers describe. */
    hungPublished(): boolean {
      return this.events.some((e) => e.stream_key === "live/hung" && (e.type === "publish_start" || e.type === "codec_detected"));
    }

    async dispose(): Promise<void> {
      // Held requests end first, so that stopping the server is not kept waiting by them.
      this.receiver.stop();
      await this.live.dispose();
    }
  }
  const tests = testsAtOnce(
    () => new CallbackTest(),
    (t) => t.start(),
  );

  tests.it("allows on 2xx and refuses on 403, which FFmpeg prints; the receiver gets the contract's fields", async (t) => {
    const { live, receiver, events } = t;
    receiver.answer = (r) => new Response(null, { status: callbackBody(r).name === "deny" ? 403 : 204 });
    const source = await testSource();
    const denied = live.publish(source, `deny?token=${WRONG}`, { seconds: 1 });
    await expectRefusedFfmpeg(denied, "Authentication failed: callback answered HTTP 403.");
    const publisher = live.publish(source, `cb?token=${TOKEN}`, { seconds: 1 });
    expect(await publisher.waitExit(10_000), publisher.describe()).toBe(0);
    const client = { app: "live", client_ip: "127.0.0.1" };
    expect(t.bodies()).toEqual([
      { action: "publish", name: "deny", stream_key: "live/deny", token: WRONG, ...client },
      { action: "publish", name: "cb", stream_key: "live/cb", token: TOKEN, ...client },
    ]);
    await expectRefusals(events, "publish", 1, [WRONG]);
    expectNotLogged(live, [TOKEN, WRONG]);
  }, 20_000);

  /**
   * Ten raw players of a live FFmpeg stream, a raw player waiting for live/hung, and a raw publisher of
   * live/hung whose callback the receiver holds, with its first messages sent right behind the publish
   * command. Returns once every player got 1 s more of video after the callback was held, having checked
   * that nothing of live/hung was acted on.
   */
  async function hangingPublish(t: CallbackTest) {
    const { live, receiver } = t;
    let heldFrom = 0;
    receiver.answer = async (r) => {
      const body = callbackBody(r);
      if (body.action !== "publish" || body.name !== "hung") return new Response("ok");
      heldFrom = performance.now();
      await receiver.hold();
      return new Response("ok");
    };
    await live.publishLive(await testSource(), "other", { seconds: 8 });
    const players = await Promise.all(Array.from({ length: 10 }, () => live.rawPlayer("other")));
    const waiting = await live.rawPlayer("hung");
    const waitingFrom = waiting.events.length;
    const hung = await live.rawClient();
    let sent: RtmpMessage[] = [];
    const status = hung.publish("hung", (streamId) => (sent = firstMessages(streamId)));
    await waitFor(() => heldFrom !== 0, 5_000, "the publish callback of live/hung");
    const fed = () => players.every((player) => videoFramesSince(player, heldFrom) >= FED_FRAMES);
    const summaries = () => players.map((player) => player.summary()).join("\n");
    await waitFor(fed, 10_000, `${FED_FRAMES} video frames at every player after the callback was held`, summaries);

    for (const player of players) expectEveryFrame(player);
    expect(live.server.server.registry.streams.get("live/hung")?.publisher ?? null).toBeNull();
    expect(t.hungPublished()).toBe(false);
    expect(waiting.events.slice(waitingFrom), waiting.summary()).toEqual([]);
    return { players, waiting, waitingFrom, hung, sent, status, heldFrom };
  }

  tests.it("a callback hanging until callback_timeout stalls no one else; its connection's later messages die with it", async (t) => {
    const { events } = t;
    const { players, waiting, waitingFrom, hung, status, heldFrom } = await hangingPublish(t);
    expect(await status).toEqual(PUBLISH_REFUSED);
    // The decision waited out the 3 s callback_timeout; the players did not wait with it: each got its 1 s of
    // video before the decision came, every frame.
    await expectRefusals(events, "publish", 1, []);
    expect(events.find((e) => e.type === "auth_failed")?.data.reason).toBe("callback timed out");
    const decidedAt = hung.events.find((e) => statusCode(e) === PUBLISH_REFUSED.code)!.at;
    for (const player of players) {
      expect(videoFramesSince(player, heldFrom) - videoFramesSince(player, decidedAt), player.summary()).toBeGreaterThanOrEqual(FED_FRAMES);
      expectEveryFrame(player);
    }
    expect(t.hungPublished()).toBe(false);
    expect(waiting.events.slice(waitingFrom), waiting.summary()).toEqual([]);
  }, 30_000);

  tests.it("a callback that hangs, then allows: what came after the publish reaches a player in order, after the decision", async (t) => {
    const { players, waiting, waitingFrom, sent, status } = await hangingPublish(t);
    const allowedAt = performance.now();
    t.receiver.release();
    expect(await status).toEqual({ level: "status", code: "NetStream.Publish.Start" });
    for (const player of players) expectEveryFrame(player);
    const arrived = () => receivedOutline(waiting, waitingFrom);
    await waitFor(() => arrived().length >= sent.length, 5_000, "live/hung at its player", () => waiting.summary());
    expect(arrived()).toEqual(outline(sent));
    expect(waiting.events.slice(waitingFrom).every((e) => e.at >= allowedAt)).toBe(true);
    expect(t.bodies().filter((b) => b.action === "play" && b.name === "other").length).toBeGreaterThanOrEqual(10);
  }, 30_000);
});

describe("auth.mode file", () => {
  const live = liveTest("auth-file", {
    adjust: (c) => {
      writeFileSync(file, JSON.stringify({ "live/a": "file-tok-a" }));
      c.auth.mode = "file";
      c.auth.file = file;
    },
  });
  const file = live.path("tokens.json");

  /** How many times the server has (re)read the file, by its log. */
  const reads = () => live.server.logs.records().filter((r) => r.msg === "auth token file reloaded").length;

  async function publishStatus(name: string): Promise<string | undefined> {
    const client = await live.rawClient();
    const status = await client.publish(name);
    client.close();
    return status.code;
  }

  it("admits the next publish with a token added by rewrite, then by atomic rename, without a restart", async () => {
    expect(await publishStatus("b?token=file-tok-b")).toBe("NetStream.Publish.Unauthorized");

    const before = reads();
    writeFileSync(file, JSON.stringify({ "live/a": "file-tok-a", "live/b": "file-tok-b" }));
    await waitFor(() => reads() > before, 5_000, "the rewritten token file to be read", () => live.server.logs.tail());
    expect(await publishStatus("b?token=file-tok-b")).toBe("NetStream.Publish.Start");

    const beforeRename = reads();
    const next = live.path("tokens.json.new");
    writeFileSync(next, JSON.stringify({ "live/c": "file-tok-c" }));
    renameSync(next, file);
    await waitFor(() => reads() > beforeRename, 5_000, "the renamed token file to be read", () => live.server.logs.tail());
    expect(await publishStatus("c?token=file-tok-c")).toBe("NetStream.Publish.Start");
    expect(await publishStatus("b?token=file-tok-b")).toBe("NetStream.Publish.Unauthorized");
    expectNotLogged(live, ["file-tok-a", "file-tok-b", "file-tok-c"]);
  }, 20_000);

  it("re-reads the file on server.reload(), what SIGHUP calls", async () => {
    const before = reads();
    writeFileSync(file, JSON.stringify({ "live/d": "file-tok-d" }));
    // Synchronously, before any file watch event could be handled: only reload() can have read it.
    live.server.server.reload();
    expect(reads()).toBe(before + 1);
    expect(live.server.logs.records().at(-1)).toMatchObject({ msg: "auth token file reloaded", streams: 1 });
    expect(await publishStatus("d?token=file-tok-d")).toBe("NetStream.Publish.Start");
    expect(await publishStatus("a?token=file-tok-a")).toBe("NetStream.Publish.Unauthorized");
  }, 20_000);
});
