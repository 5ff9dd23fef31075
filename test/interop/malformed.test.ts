/**
 * Hostile or broken input costs exactly one connection: the one that sent it is closed (and the reason
 * logged once), while other connections, including a live FFmpeg round trip, carry on.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { encodeMessage } from "../../src/protocol/chunk-writer.ts";
import { MessageType } from "../../src/protocol/message.ts";
import { concat } from "../../support/bytes.ts";
import { hex } from "../helpers/hex.ts";
import { liveTest } from "../helpers/live-server.ts";
import { decodeErrors, probeTestSourceCopy, requireFfmpeg } from "../helpers/media.ts";
import { testSource } from "../../support/test-source.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";

interface Offence {
  name: string;
  /** Complete a valid handshake and connect before sending `bytes`. */
  afterConnect: boolean;
  bytes: Uint8Array;
  /** The ProtocolError rule the server should log. */
  logged: string;
}

function randomBytes(seed: number, count: number): Uint8Array {
  const next = mulberry32(seed);
  return Uint8Array.from({ length: count }, () => Math.floor(next() * 256));
}

const command = (payload: Uint8Array) =>
  encodeMessage({ csid: 3, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload }, 128);

const OFFENCES: Offence[] = [
  {
    name: "an RTMPE handshake (C0 = 0x06)",
    afterConnect: false,
    bytes: concat(hex("06"), randomBytes(1, 1536)),
    logged: "handshake.version",
  },
  {
    name: "an HTTP request instead of a handshake",
    afterConnect: false,
    bytes: new TextEncoder().encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    logged: "handshake.version",
  },
  {
    name: "a TLS ClientHello instead of a handshake",
    afterConnect: false,
    bytes: concat(hex("16 0301 00c8 01 0000c4 0303"), randomBytes(2, 200)),
    logged: "handshake.version",
  },
  {
    // 0xFFFFFF bytes (16 MiB - 1) against the test's max_message_size of 1 MiB; no payload follows, so the
    // server must decide on the header alone, before buffering anything.
    name: "a chunk declaring a message far over max_message_size",
    afterConnect: true,
    bytes: concat(hex("03 000000 ffffff 14 00000000"), new Uint8Array(64)),
    logged: "chunk.max-message-size",
  },
  {
    name: "a connect command whose AMF0 strict array claims 0xFFFFFFF0 elements",
    afterConnect: true,
    bytes: command(hex('02 0007 "connect" 00 3ff0000000000000 0a fffffff0 00 0000000000000000')),
    logged: "amf0.array-count",
  },
  {
    // Chunk stream 10: the client's own messages never use it.
    name: "a type-1 chunk header on a chunk stream that never had a full header",
    afterConnect: true,
    bytes: concat(hex("4a 000000 000010 14"), new Uint8Array(16)),
    logged: "chunk.no-prior-header",
  },
];

describe.skipIf(!requireFfmpeg())("malformed input", () => {
  const live = liveTest("malformed", {
    once: true,
    adjust: (c) => {
      c.maxMessageSize = 1024 * 1024;
      c.timeouts.handshakeMs = 1_000;
    },
  });
  /** A well-behaved player, connected all along: it must outlive every offence. */
  let bystander: RawRtmpClient;

  beforeAll(async () => {
    bystander = await RawRtmpClient.connect(live.server.port);
    await bystander.play("bystander");
  });
  afterAll(() => bystander?.close());

  /** Opens a connection, commits the offence, and returns the connection (closed or not after 3 s). */
  async function offend(offence: Offence): Promise<RawRtmpClient> {
    const client = offence.afterConnect ? await live.rawClient() : await live.tcpClient();
    client.write(offence.bytes);
    await client.closedWithin(3_000);
    return client;
  }

  for (const offence of OFFENCES) {
    it(`closes the connection that sends ${offence.name}, and only that one`, async () => {
      const server = live.server;
      const logged = server.logs.lines.length;
      const client = await offend(offence);
      expect(client.isClosed, `closed by the server within 3 s; ${client.summary()}`).toBe(true);
      expect(client.closedLocally).toBe(false);
      expect(bystander.isClosed, "the other connection is untouched").toBe(false);

      const errors = server.logs
        .records()
        .slice(logged)
        .filter((r) => r.msg === "protocol error");
      const context = `one protocol error logged with its rule\n${server.logs.tail()}`;
      expect(errors.map((r) => r.rule), context).toEqual([offence.logged]);
    }, 15_000);
  }

  it("closes a client that connects and stays silent after timeouts.handshake", async () => {
    const client = await live.tcpClient();
    expect(await client.closedWithin(4_000), "closed by the server").toBe(true);
    expect(client.closedLocally).toBe(false);
    const lifetime = client.closedAt! - client.openedAt;
    expect(lifetime, "not before the 1 s handshake timeout").toBeGreaterThanOrEqual(900);
    expect(bystander.isClosed).toBe(false);
  }, 15_000);

  it("keeps an FFmpeg publish/play round trip going while malformed connections are closed around it", async () => {
    const seconds = 5;
    const { publisher, joinedAfterS, out, player } = await live.publishAndRecord(await testSource(), "steady", { seconds });

    const offenders = await Promise.all(OFFENCES.map(offend));
    for (const [i, client] of offenders.entries()) {
      expect(client.isClosed, `${OFFENCES[i].name}: closed; ${client.summary()}`).toBe(true);
    }

    expect(await publisher.waitExit(seconds * 1000 + 10_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    const copy = await probeTestSourceCopy(out);
    expect(copy.duration).toBeGreaterThanOrEqual(seconds - joinedAfterS - 1);
    expect(await decodeErrors(out)).toBe("");
    expect(bystander.isClosed).toBe(false);
  }, 45_000);
});
