import { afterAll, afterEach, beforeAll, describe, expect, it } from "bun:test";
import { join, resolve } from "node:path";
import { ChunkWriter, encodeMessage } from "../../src/protocol/chunk-writer.ts";
import { decodeCommand, decodeData, encodeData } from "../../src/protocol/command.ts";
import { decodeControl, pingRequest, windowAckSize } from "../../src/protocol/control.ts";
import type { ControlMessage } from "../../src/protocol/control.ts";
import { Csid, MessageType } from "../../src/protocol/message.ts";
import type { RtmpMessage } from "../../src/protocol/message.ts";
import { RtmpClient, RtmpStatusError, parseRtmpUrl } from "../../src/relay/rtmp-client.ts";
import type { RtmpClientOptions, RtmpUrl } from "../../src/relay/rtmp-client.ts";
import { concat } from "../../support/bytes.ts";
import { readFlvTags } from "../../support/flv-tags.ts";
import type { FlvTag } from "../../support/flv-tags.ts";
import { requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { Children, run } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { eventLoopTurns, waitFor, within } from "../../support/wait.ts";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";
import { scriptedServer, statusMessage } from "./scripted-server.ts";
import { type TestCertificate, selfSignedCertificate } from "../helpers/tls-certificate.ts";
import { TestRtmpClient } from "../../support/rtmp-test-client.ts";

const CLIENT_MODULE = resolve(import.meta.dir, "../../src/relay/rtmp-client.ts");

describe("parseRtmpUrl", () => {
  const at = (host: string, port: number, app: string, name: string, tcUrl: string): RtmpUrl => ({
    tls: tcUrl.startsWith("rtmps:"),
    host,
    port,
    app,
    name,
    tcUrl,
  });
  const cases: [string, RtmpUrl][] = [
    ["rtmp://127.0.0.1:1936/live/test", at("127.0.0.1", 1936, "live", "test", "rtmp://127.0.0.1:1936/live")],
    ["rtmp://example.com/live", at("example.com", 1935, "live", "", "rtmp://example.com:1935/live")],
    ["rtmp://h/app/a/b?key=1", at("h", 1935, "app", "a/b?key=1", "rtmp://h:1935/app")],
    ["rtmp://[::1]:19350/live/x", at("::1", 19350, "live", "x", "rtmp://[::1]:19350/live")],
    ["rtmps://live.example.com/app/key", at("live.example.com", 443, "app", "key", "rtmps://live.example.com:443/app")],
    ["rtmps://h:8443/app/k?x=1", at("h", 8443, "app", "k?x=1", "rtmps://h:8443/app")],
  ];
  for (const [url, parsed] of cases) {
    it(`splits ${url} like FFmpeg`, () => expect(parseRtmpUrl(url)).toEqual(parsed));
  }

  it("refuses other schemes and a missing app", () => {
    expect(() => parseRtmpUrl("http://h/live/x")).toThrow("only rtmp://");
    expect(() => parseRtmpUrl("rtmp://h/")).toThrow("no application name");
    expect(() => parseRtmpUrl("not a url")).toThrow("is not a URL");
  });
});

/** A data message the scripted server takes as a cue for what to do next. */
function cue(name: string): RtmpMessage {
  return { csid: Csid.Data, type: MessageType.DataAmf0, streamId: 0, timestamp: 0, payload: encodeData(name) };
}

describe("RtmpClient against a scripted server", () => {
  it("answers ping requests and acknowledges per the server's window", async () => {
    const controls: ControlMessage[] = [];
    const server = scriptedServer((m, peer) => {
      if (m.type === MessageType.UserControl || m.type === MessageType.Acknowledgement) {
        controls.push(decodeControl(m.type, m.payload));
      } else if (m.type === MessageType.DataAmf0) {
        // The client's cue: set a small window, ping, then send more than a window of data.
        peer.reply(windowAckSize(1000));
        peer.reply(pingRequest(424242));
        const filler = encodeData("filler", "x".repeat(3000));
        peer.reply({ csid: Csid.Data, type: MessageType.DataAmf0, streamId: 0, timestamp: 0, payload: filler });
      }
    });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live/x`);
    try {
      client.send(cue("go"));
      await waitFor(() => controls.length >= 2, 3000, "the ping response and an acknowledgement");
      expect(controls).toContainEqual({ type: MessageType.UserControl, event: { eventType: 7, timestamp: 424242 } });
      const ack = controls.find((c) => c.type === MessageType.Acknowledgement);
      expect(ack).toBeDefined();
      expect((ack as { sequence: number }).sequence).toBeGreaterThan(3000);
      expect((ack as { sequence: number }).sequence).toBeLessThanOrEqual(client.bytesReceived);
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("rejects publish with the status code the server sent", async () => {
    const server = scriptedServer((m, peer) => {
      if (m.type === MessageType.CommandAmf0 && decodeCommand(m.payload).name === "publish") {
        peer.reply(statusMessage(m.streamId, "error", "NetStream.Publish.BadName"));
      }
    });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live`);
    try {
      const id = await client.createStream();
      expect(id).toBe(1);
      const err = await client.publish(id, "taken").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RtmpStatusError);
      expect((err as RtmpStatusError).code).toBe("NetStream.Publish.BadName");
      expect((err as Error).message).toContain("NetStream.Publish.BadName");
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("resolves play on NetStream.Play.Start after a Play.Reset", async () => {
    const server = scriptedServer((m, peer) => {
      if (m.type === MessageType.CommandAmf0 && decodeCommand(m.payload).name === "play") {
        peer.reply(statusMessage(m.streamId, "status", "NetStream.Play.Reset"));
        peer.reply(statusMessage(m.streamId, "status", "NetStream.Play.Start"));
      }
    });
    const client = await TestRtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live`);
    try {
      await within(client.play(await client.createStream(), "x"), 2000, "play");
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("sends raw bytes unchanged, in order with what send() queued", async () => {
    const names: string[] = [];
    const server = scriptedServer((m) => {
      if (m.type === MessageType.DataAmf0) names.push(decodeData(m.payload).name);
    });
    const client = await TestRtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live`);
    try {
      client.send(cue("first"));
      // A chunk stream the client's writer never used, so the raw chunk needs no shared header state.
      client.sendRaw(encodeMessage({ ...cue("raw"), csid: 20 }, 4096));
      client.send(cue("last"));
      await waitFor(() => names.length >= 3, 2000, "three cues");
      expect(names).toEqual(["first", "raw", "last"]);
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("closes with an error once the send queue passes its bound", async () => {
    // The client's first data message tells the server to stop reading.
    let stopped = false;
    const server = scriptedServer((m, peer) => {
      if (m.type !== MessageType.DataAmf0) return;
      peer.socket.pause();
      stopped = true;
    });
    let closedWith: Error | undefined;
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live`, {
      maxQueueBytes: 1024 * 1024,
      onClose: (err) => (closedWith = err),
    });
    try {
      client.send(cue("stop"));
      await waitFor(() => stopped, 2000, "the server to stop reading");
      // More than the kernel buffers and the queue bound together, in steps until the client gives up.
      const big = new Uint8Array(512 * 1024);
      const overflowed = () => {
        if (closedWith === undefined) client.send({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload: big });
        return closedWith !== undefined;
      };
      await waitFor(overflowed, 5000, "the client to close on its queue bound");
      expect(closedWith?.message).toContain("send queue over 1048576 bytes");
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("stops reading while paused, so the server meets a full socket, and reads again on resume", async () => {
    let shortWrite = false;
    const server = scriptedServer((m, peer) => {
      if (m.type !== MessageType.DataAmf0) return;
      const payload = new Uint8Array(60_000);
      const bytes = new ChunkWriter().encode({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload });
      // 64 MiB at most: far more than loopback buffers hold, so a paused client must cause a short write.
      for (let i = 0; i < 1000 && !shortWrite; i++) shortWrite = peer.socket.write(bytes) < bytes.length;
    });
    const client = await TestRtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live`, { onClose: () => {} });
    try {
      client.pause();
      client.send(cue("flood"));
      await waitFor(() => shortWrite, 3000, "the server's short write");
      // Bytes are waiting for the client now; each turn of the event loop polls its socket.
      const whilePaused = client.bytesReceived;
      await eventLoopTurns(100);
      expect(client.bytesReceived).toBe(whilePaused);
      client.resume();
      await waitFor(() => client.bytesReceived > whilePaused, 3000, "reading again after resume");
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("adds connectFields to the connect object, and unpublishes with FCUnpublish then deleteStream", async () => {
    const commands: { name: string; values: unknown[] }[] = [];
    const server = scriptedServer((m) => {
      if (m.type !== MessageType.CommandAmf0) return;
      const cmd = decodeCommand(m.payload);
      commands.push({ name: cmd.name, values: [cmd.commandObject, ...cmd.args] });
    });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live`, { connectFields: { relayHops: 2 } });
    try {
      client.unpublish(1, "cam?key=k");
      await waitFor(() => commands.at(-1)?.name === "deleteStream", 2000, "deleteStream");
      expect((commands[0].values[0] as Record<string, unknown>).relayHops).toBe(2);
      expect(commands.slice(1)).toEqual([
        { name: "FCUnpublish", values: [null, "cam?key=k"] },
        { name: "deleteStream", values: [null, 1] },
      ]);
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("drops the connection when its abort signal fires, during connect or after", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const server = scriptedServer(() => {});
    try {
      const early = new AbortController();
      const pending = RtmpClient.connect(`rtmp://127.0.0.1:${silent.port}/live`, { signal: early.signal });
      early.abort();
      await expect(within(pending, 1000, "abort during connect")).rejects.toThrow("aborted");
      const late = new AbortController();
      let closedWith: Error | undefined;
      await RtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live`, { signal: late.signal, onClose: (err) => (closedWith = err) });
      late.abort();
      expect(closedWith?.message).toBe("aborted");
    } finally {
      silent.stop(true);
      server.stop(true);
    }
  });

  it("rejects connect when nothing listens, and when the server never answers", async () => {
    const refused = RtmpClient.connect(`rtmp://127.0.0.1:${freePort()}/live`);
    await expect(refused).rejects.toThrow();
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const started = Date.now();
      await expect(RtmpClient.connect(`rtmp://127.0.0.1:${silent.port}/live`, { timeoutMs: 300 })).rejects.toThrow(
        "connect: no reply within 300 ms",
      );
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      silent.stop(true);
    }
  });
});

describe("RtmpClient over TLS (rtmps://)", () => {
  const scratch = scratchDir("rtmp-client-tls");
  let server: TestServer;
  let certificate: TestCertificate;

  beforeAll(async () => {
    certificate = await selfSignedCertificate(scratch.path);
    server = await startTestServer((config) => {
      config.tls = { listen: { host: "127.0.0.1", port: 0 }, ...certificate };
    });
  });

  afterAll(async () => {
    await server.stop();
    scratch.remove();
  });

  /**
   * RtmpClient in a process of its own that trusts the test's certificate the operator's way, through
   * NODE_EXTRA_CA_CERTS: connects to `url`, publishes `name`, and prints the tcUrl it sent or why it failed.
   */
  async function publishTrusting(url: string, name: string): Promise<string> {
    const script = [
      `import { RtmpClient } from ${JSON.stringify(CLIENT_MODULE)};`,
      "try {",
      `  const client = await RtmpClient.connect(${JSON.stringify(url)});`,
      `  await client.publish(await client.createStream(), ${JSON.stringify(name)});`,
      "  console.log(`published ${client.url.tcUrl}`);",
      "  await client.close();",
      "} catch (e) {",
      "  console.log(`failed ${e.message}`);",
      "}",
    ].join("\n");
    const child = await run([process.execPath, "-e", script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: certificate.cert } });
    return child.stdout.trim() || child.stderr;
  }

  it("connects when the certificate is trusted, and tells the server it came over TLS", async () => {
    const port = server.server.tlsPort;
    let protocol: string | undefined;
    const unsubscribe = server.server.events.subscribe((e) => {
      if (e.type === "publish_start" && e.stream_key === "live/over-tls") protocol = server.server.connections.get(e.conn_id!)?.protocol;
    });
    try {
      expect(await publishTrusting(`rtmps://127.0.0.1:${port}/live/x`, "over-tls")).toBe(`published rtmps://127.0.0.1:${port}/live`);
      expect(protocol).toBe("rtmps");
    } finally {
      unsubscribe();
    }
  });

  it("refuses a certificate it was not told to trust, and one for another host name", async () => {
    const port = server.server.tlsPort;
    await expect(RtmpClient.connect(`rtmps://127.0.0.1:${port}/live`)).rejects.toThrow(
      "TLS: the server's certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)",
    );
    // The certificate names 127.0.0.1 only.
    expect(await publishTrusting(`rtmps://localhost:${port}/live/x`, "x")).toBe(
      "failed TLS: the server's certificate is not trusted (ERR_TLS_CERT_ALTNAME_INVALID)",
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Against FFmpeg as the server, with a real H.264 + AAC stream.

/** FFmpeg -listen accepts one connection only, so retry the real client until FFmpeg is listening. */
async function connectWhenListening(url: string, opts: RtmpClientOptions = {}): Promise<TestRtmpClient> {
  let client: TestRtmpClient | null = null;
  const connected = async () => {
    try {
      client = await TestRtmpClient.connect(url, opts);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== "ECONNREFUSED") throw err;
      return false;
    }
  };
  await waitFor(connected, 10_000, `FFmpeg listening at ${url}`);
  return client!;
}

async function readTags(file: string): Promise<FlvTag[]> {
  return readFlvTags(new Uint8Array(await Bun.file(file).arrayBuffer()));
}

const count = (tags: FlvTag[], type: number) => tags.filter((t) => t.type === type).length;

describe.skipIf(!requireFfmpeg())("RtmpClient against FFmpeg", () => {
  const children = new Children();
  const scratch = scratchDir("rtmp-client");
  let input = "";
  // About 6 MB: more than loopback socket buffers hold, so sending it all at once meets short writes.
  let bigInput = "";

  beforeAll(async () => {
    input = await testSource({ seconds: 3 });
    bigInput = await testSource({ seconds: 3, cbr: "16M" });
  });

  afterEach(() => children.killAll());
  afterAll(() => scratch.remove());

  it("publishes an H.264 + AAC stream that FFmpeg records with both tracks", async () => {
    const output = join(scratch.path, "published.flv");
    const url = `rtmp://127.0.0.1:${freePort()}/live/test`;
    const ffmpeg = children.spawn("ffmpeg -listen", [
      "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
      "-listen", "1", "-timeout", "10", "-i", url, "-c", "copy", "-f", "flv", output,
    ]);
    let closeError: Error | undefined;
    const client = await connectWhenListening(url, { onClose: (err) => (closeError = err) });
    const streamId = await client.createStream();
    await client.publish(streamId, client.url.name);
    const tags = await readTags(bigInput);
    const setDataFrame = encodeData("@setDataFrame");
    for (const tag of tags) {
      const data = tag.type === MessageType.DataAmf0;
      client.send({
        csid: data ? Csid.Data : tag.type === MessageType.Audio ? Csid.Audio : Csid.Video,
        type: tag.type,
        streamId,
        timestamp: tag.timestamp,
        payload: data ? concat(setDataFrame, tag.data) : tag.data,
      });
    }
    // Everything is queued at once: close() has to drain it through short writes before ending.
    await client.close();
    expect(closeError).toBeUndefined();
    expect(await ffmpeg.waitExit(15_000), ffmpeg.describe()).toBe(0);
    const probed = await run([
      "ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", output,
    ]);
    expect(probed.stdout.split("\n").filter((l) => l !== "").sort()).toEqual(["audio", "video"]);
    // FFmpeg copies every media tag it receives, so equal counts mean nothing was lost on the way.
    const recorded = await readTags(output);
    expect(count(recorded, MessageType.Video)).toBe(count(tags, MessageType.Video));
    expect(count(recorded, MessageType.Audio)).toBe(count(tags, MessageType.Audio));
  });

  it("plays a stream FFmpeg serves, receiving all its audio and video", async () => {
    const url = `rtmp://127.0.0.1:${freePort()}/live/test`;
    children.spawn("ffmpeg -listen (output)", [
      "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
      "-re", "-i", input, "-c", "copy", "-f", "flv", "-listen", "1", "-timeout", "10", url,
    ]);
    const received = { audio: 0, video: 0 };
    let closed: (err?: Error) => void = () => {};
    const gone = new Promise<Error | undefined>((resolve) => (closed = resolve));
    const client = await connectWhenListening(url, {
      onMessage: (m) => {
        if (m.type === MessageType.Audio) received.audio++;
        if (m.type === MessageType.Video) received.video++;
      },
      onClose: (err) => closed(err),
    });
    await client.play(await client.createStream(), client.url.name);
    // FFmpeg sends the 3 s file in real time (-re), then closes the connection.
    await within(gone, 15_000, "end of stream");
    const tags = await readTags(input);
    expect(received).toEqual({ audio: count(tags, MessageType.Audio), video: count(tags, MessageType.Video) });
  });
});
