import { afterEach, describe, expect, it } from "bun:test";
import { type Config, DEFAULT_CONFIG } from "../src/config/config.ts";
import { createLogger } from "../src/logger.ts";
import { decodeCommand, encodeCommand } from "../src/protocol/command.ts";
import { decodeControl, windowAckSize } from "../src/protocol/control.ts";
import { ClientHandshake } from "../src/protocol/handshake.ts";
import { MessageType, type RtmpMessage } from "../src/protocol/message.ts";
import { RtmpClient } from "../src/relay/rtmp-client.ts";
import { type RtmpServer, startServer } from "../src/server.ts";

/** Server, connection and stream rules that need no FFmpeg: driven by our own client over loopback. */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(change: (c: Config) => void = () => {}): Promise<{ server: RtmpServer; url: string }> {
  const config = structuredClone(DEFAULT_CONFIG);
  config.listen = { host: "127.0.0.1", port: 0 };
  change(config);
  const server = await startServer(config, createLogger({ level: "error", format: "json", write: () => {} }));
  cleanups.push(() => server.stop());
  return { server, url: `rtmp://127.0.0.1:${server.port}/live` };
}

async function client(url: string, onMessage?: (m: RtmpMessage) => void): Promise<{ c: RtmpClient; closed: () => boolean }> {
  let closed = false;
  const c = await RtmpClient.connect(url, { onMessage, onClose: () => (closed = true) });
  cleanups.push(() => c.close());
  return { c, closed: () => closed };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await Bun.sleep(10);
  }
  return true;
}

function video(timestamp: number, key: boolean, streamId = 1): RtmpMessage {
  const payload = new Uint8Array(200).fill(0x42);
  payload[0] = key ? 0x17 : 0x27;
  payload[1] = 1;
  return { csid: 6, type: MessageType.Video, streamId, timestamp, payload };
}

async function publisher(url: string, name: string) {
  const p = await client(url);
  const id = await p.c.createStream();
  await p.c.publish(id, name);
  return { ...p, id };
}

async function player(url: string, name: string) {
  const media: RtmpMessage[] = [];
  const p = await client(url, (m) => {
    if (m.type === MessageType.Video || m.type === MessageType.Audio) media.push({ ...m, payload: m.payload.slice() });
  });
  await p.c.play(await p.c.createStream(), name);
  return { ...p, media };
}

describe("connections", () => {
  it("refuses connections past max_connections", async () => {
    const { url } = await serve((c) => (c.maxConnections = 2));
    await client(url);
    await client(url);
    await expect(RtmpClient.connect(url, { timeoutMs: 2000 })).rejects.toThrow();
  });

  it("reaps a peer that sends nothing and answers no ping, after timeouts.read", async () => {
    const { server } = await serve((c) => (c.timeouts.readMs = 600));
    const hs = new ClientHandshake();
    let closedAt = 0;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: server.port,
      socket: {
        data(s, bytes) {
          // Complete the handshake, then ignore everything (pings included).
          if (!hs.done) {
            const step = hs.push(bytes);
            if (step.send) s.write(step.send);
          }
        },
        close() {
          closedAt = performance.now();
        },
      },
    });
    cleanups.push(() => socket.end());
    const start = performance.now();
    socket.write(hs.start());
    expect(await until(() => closedAt > 0, 5000)).toBe(true);
    expect(closedAt - start).toBeGreaterThan(500);
  });

  it("keeps a quiet connection that answers pings", async () => {
    const { url } = await serve((c) => (c.timeouts.readMs = 600));
    const quiet = await client(url);
    await Bun.sleep(2000);
    expect(quiet.closed()).toBe(false);
  });

  it("never reaps a player that only receives while its stream is live", async () => {
    const { url } = await serve((c) => (c.timeouts.readMs = 600));
    const pub = await publisher(url, "live1");
    const play = await player(url, "live1");
    for (let i = 0; i < 40; i++) {
      pub.c.send(video(i * 50, i % 10 === 0, pub.id));
      await Bun.sleep(50);
    }
    expect(play.closed()).toBe(false);
    expect(play.c.bytesReceived).toBeGreaterThan(8000);
    expect(play.media.length).toBeGreaterThan(30);
  });
});

describe("protocol conversation", () => {
  it("answers a command it does not support with _error on the same transaction", async () => {
    const { url } = await serve();
    const replies: string[] = [];
    const c = await client(url, (m) => {
      if (m.type !== MessageType.CommandAmf0) return;
      const cmd = decodeCommand(m.payload);
      replies.push(`${cmd.name} ${cmd.transactionId}`);
    });
    c.c.send({ csid: 3, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: encodeCommand("makeCoffee", 9, null) });
    c.c.send({ csid: 3, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: encodeCommand("getStreamLength", 10, null, "x") });
    expect(await until(() => replies.length >= 3, 3000)).toBe(true);
    expect(replies).toContain("_error 9");
    expect(replies).toContain("_result 10");
  });

  it("acknowledges every window of bytes the peer sends", async () => {
    const { url } = await serve();
    const acks: number[] = [];
    const pub = await client(url, (m) => {
      if (m.type === MessageType.Acknowledgement) {
        const c = decodeControl(m.type, m.payload);
        if (c.type === MessageType.Acknowledgement) acks.push(c.sequence);
      }
    });
    pub.c.send(windowAckSize(10_000));
    const id = await pub.c.createStream();
    await pub.c.publish(id, "acks");
    // Three reads of ~12 KB each: every read that completes a window is acknowledged.
    for (let batch = 0; batch < 3; batch++) {
      for (let i = 0; i < 50; i++) pub.c.send(video(batch * 2000 + i * 40, i === 0, id));
      await Bun.sleep(50);
    }
    expect(await until(() => acks.length >= 2, 3000)).toBe(true);
    expect(acks[1] - acks[0]).toBeGreaterThanOrEqual(10_000);
    expect(pub.c.bytesReceived).toBeGreaterThan(0);
  });
});

describe("streams", () => {
  it("replaces a publisher silent for longer than timeouts.publisher_idle, even under reject", async () => {
    const { url } = await serve((c) => {
      c.streams.publishConflict = "reject";
      c.timeouts.publisherIdleMs = 300;
    });
    const first = await publisher(url, "stale");
    first.c.send(video(0, true, first.id));
    await Bun.sleep(500);
    const second = await publisher(url, "stale");
    second.c.send(video(0, true, second.id));
    expect(await until(() => first.closed(), 3000)).toBe(true);
    expect(second.closed()).toBe(false);
  });

  it("refuses a second live publisher under reject", async () => {
    const { url } = await serve();
    const first = await publisher(url, "busy");
    first.c.send(video(0, true, first.id));
    const second = await client(url);
    await expect(second.c.publish(await second.c.createStream(), "busy")).rejects.toThrow("NetStream.Publish.BadName");
    expect(await until(() => second.closed(), 3000)).toBe(true);
    expect(first.closed()).toBe(false);
  });

  it("passes timestamps through unchanged across 24 bits and the 32-bit wrap", async () => {
    const { url } = await serve();
    const pub = await publisher(url, "ts");
    const play = await player(url, "ts");
    const stamps = [0xfffff0, 0xffffff, 0x1000000, 0x1000021, 0xfffffff0, 0xffffffff, 0x10, 0x31];
    stamps.forEach((t, i) => pub.c.send(video(t, i === 0, pub.id)));
    expect(await until(() => play.media.length === stamps.length, 5000)).toBe(true);
    expect(play.media.map((m) => m.timestamp)).toEqual(stamps);
  });

  it("never lets a player inject media into the stream it plays", async () => {
    const { url } = await serve();
    const pub = await publisher(url, "inj");
    const victim = await player(url, "inj");
    const intruder = await player(url, "inj");
    pub.c.send(video(0, true, pub.id));
    intruder.c.send({ ...video(40, true), payload: new Uint8Array(300).fill(0x17) });
    pub.c.send(video(80, false, pub.id));
    expect(await until(() => victim.media.length >= 2, 5000)).toBe(true);
    await Bun.sleep(200);
    expect(victim.media.map((m) => m.payload.length)).toEqual([200, 200]);
  });

  it("gives a late joiner the GOP from its keyframe, and a player on another stream id the same frames", async () => {
    const { url } = await serve();
    const pub = await publisher(url, "gop");
    for (let i = 0; i < 25; i++) pub.c.send(video(i * 40, i % 10 === 0, pub.id));
    await Bun.sleep(200);
    const late = await player(url, "gop");
    // A player that made a throwaway stream first plays on stream id 2.
    const other = await client(url);
    const media: RtmpMessage[] = [];
    const other2 = await RtmpClient.connect(url, {
      onMessage: (m) => m.type === MessageType.Video && media.push(m),
    });
    cleanups.push(() => other2.close());
    await other2.createStream();
    const id = await other2.createStream();
    expect(id).toBe(2);
    await other2.play(id, "gop");
    expect(await until(() => late.media.length >= 5 && media.length >= 5, 5000)).toBe(true);
    expect(late.media.map((m) => m.timestamp)).toEqual([800, 840, 880, 920, 960]);
    expect(late.media[0].payload[0]).toBe(0x17);
    expect(media.map((m) => m.streamId)).toEqual([2, 2, 2, 2, 2]);
    expect(other.closed()).toBe(false);
  });
});
