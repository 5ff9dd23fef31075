/**
 * The server under test, in-process on 127.0.0.1 with an OS-chosen port and its JSON log lines captured; the
 * one readiness check the interop tests share ("is this stream live yet", asked the way a player would); and
 * the scaffolding of an interop test file (server, FFmpeg children, raw clients, scratch files): liveTest()
 * for tests that run one after another, liveTests() for tests that run at the same time.
 */
import { afterAll, afterEach, beforeAll, beforeEach } from "bun:test";
import { join } from "node:path";
import { type Config, DEFAULT_CONFIG } from "../../src/config/config.ts";
import { createLogger } from "../../src/logger.ts";
import { type RtmpServer, startServer } from "../../src/server.ts";
import { type PlayOptions, type PublishOptions, play, publish, scratchDir } from "./media.ts";
import { type Child, Children } from "../../support/children.ts";
import { waitFor, within } from "../../support/wait.ts";
import { type Fixture, type TestsAtOnce, testsAtOnce } from "./at-once.ts";
import { LogCapture } from "./log-capture.ts";
import { RawRtmpClient, isVideoFrame } from "./raw-rtmp-client.ts";

export { LogCapture, type LogRecord } from "./log-capture.ts";

export interface TestServer {
  readonly config: Config;
  readonly port: number;
  readonly logs: LogCapture;
  readonly server: RtmpServer;
  /** rtmp://127.0.0.1:PORT/APP/NAME */
  url(name: string, app?: string): string;
  /** Resolves once `app/name` has at least `count` subscribed players (e.g. FFmpeg players that are waiting). */
  waitForPlayers(name: string, count: number, timeoutMs?: number, app?: string): Promise<void>;
  /** waitUntilLive() on this server. */
  waitUntilLive(name: string, timeoutMs?: number, app?: string): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the server on 127.0.0.1:0 with the defaults, as changed by `adjust`. */
export async function startTestServer(adjust?: (config: Config) => void): Promise<TestServer> {
  const config = structuredClone(DEFAULT_CONFIG);
  config.listen = { host: "127.0.0.1", port: 0 };
  adjust?.(config);
  const logs = new LogCapture();
  const logger = createLogger({ level: "info", format: "json", write: logs.write });
  const server = await startServer(config, logger);
  const port = server.port;
  let stopped: Promise<void> | null = null;
  const players = (key: string) => server.registry.streams.get(key)?.subscribers.length ?? 0;
  return {
    config,
    port,
    logs,
    server,
    url: (name, app = "live") => `rtmp://127.0.0.1:${port}/${app}/${name}`,
    waitForPlayers: (name, count, timeoutMs = 10_000, app = "live") =>
      waitFor(() => players(`${app}/${name}`) >= count, timeoutMs, `${count} player(s) of ${app}/${name}`, () => logs.tail()),
    waitUntilLive: (name, timeoutMs, app) => waitUntilLive(port, name, timeoutMs, app),
    stop: () => {
      stopped ??= within(Promise.resolve(server.stop()), 15_000, "server.stop()");
      return stopped;
    },
  };
}

/**
 * Waits until `live/NAME` delivers video frames to a fresh player (a raw client that connects, plays, and
 * waits for the first coded frame), retrying while the server has nothing yet. Resolves with how long the
 * successful attempt took from TCP connect to first frame.
 */
export async function waitUntilLive(port: number, name: string, timeoutMs = 10_000, app = "live"): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  while (performance.now() < deadline) {
    let client: RawRtmpClient | null = null;
    try {
      client = await RawRtmpClient.connect(port, app);
      await client.play(name);
      const wait = Math.max(100, Math.min(2_000, deadline - performance.now()));
      const frame = await client.waitFor(isVideoFrame, wait, `a video frame of ${app}/${name}`);
      return frame.at - client.openedAt;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    } finally {
      client?.close();
    }
    await Bun.sleep(50);
  }
  throw new Error(`${app}/${name} did not go live within ${timeoutMs} ms; last attempt: ${last}`);
}

export interface LiveTestOptions {
  /** Changes to the test config (see startTestServer). */
  adjust?: (config: Config) => void;
  /** One server for the whole describe block instead of a fresh one per test. */
  once?: boolean;
}

/**
 * What an interop test file sets up around its tests: the server under test, the FFmpeg publishers and
 * players and raw clients a test starts (all gone after it), and a scratch directory for recordings. Made by
 * liveTest(), which registers the hooks.
 */
export class LiveTest implements Fixture {
  /** The processes the test started (its publishers and players of every kind): killed after it. */
  readonly children = new Children();
  readonly scratch: { path: string; remove(): void };
  private current: TestServer | null = null;
  private readonly clients: RawRtmpClient[] = [];

  constructor(label: string) {
    this.scratch = scratchDir(label);
  }

  get server(): TestServer {
    if (this.current === null) throw new Error("no server is running: liveTest() starts one in beforeEach/beforeAll");
    return this.current;
  }

  /** Stops the current server, if any, and starts one configured by `adjust`. */
  async restart(adjust?: (config: Config) => void): Promise<TestServer> {
    await this.stopServer();
    this.current = await startTestServer(adjust);
    return this.current;
  }

  async stopServer(): Promise<void> {
    const server = this.current;
    this.current = null;
    await server?.stop();
  }

  /** A file in the scratch directory. */
  path(file: string): string {
    return join(this.scratch.path, file);
  }

  /** FFmpeg publishing `file` in real time to live/NAME (see media.ts). */
  publish(file: string, name: string, options?: PublishOptions): Child {
    return publish(this.children, file, this.server.url(name), options);
  }

  /** publish(), then wait until a fresh player gets video frames of it. */
  async publishLive(file: string, name: string, options?: PublishOptions): Promise<Child> {
    const publisher = this.publish(file, name, options);
    await this.server.waitUntilLive(name);
    return publisher;
  }

  /**
   * publishLive(), then an FFmpeg player recording live/NAME to NAME.flv in the scratch directory.
   * `joinedAfterS`: how far into its file the publisher was when the player started.
   */
  async publishAndRecord(file: string, name: string, options?: PublishOptions) {
    const publisher = await this.publishLive(file, name, options);
    const joinedAfterS = publisher.elapsedMs / 1000;
    const out = this.path(`${name}.flv`);
    return { publisher, joinedAfterS, out, player: this.play(name, out) };
  }

  /** An FFmpeg player of live/NAME recording to `out`, or to nothing with null (see media.ts). */
  play(name: string, out: string | null, options?: PlayOptions): Child {
    return play(this.children, this.server.url(name), out, options);
  }

  /** A raw client, connected to the live app; closed after the test. */
  async rawClient(): Promise<RawRtmpClient> {
    return this.track(await RawRtmpClient.connect(this.server.port));
  }

  /** A raw client playing live/NAME; closed after the test. */
  async rawPlayer(name: string): Promise<RawRtmpClient> {
    const client = await this.rawClient();
    await client.play(name);
    return client;
  }

  /** A bare TCP connection to the server, no handshake; closed after the test. */
  async tcpClient(): Promise<RawRtmpClient> {
    return this.track(await RawRtmpClient.tcp(this.server.port));
  }

  /** Closes the test's raw clients and kills its FFmpeg processes. */
  async endTest(): Promise<void> {
    for (const client of this.clients.splice(0)) client.close();
    await this.children.killAll();
  }

  /** endTest(), then the server and the scratch directory go too. */
  async dispose(): Promise<void> {
    await this.endTest();
    await this.stopServer();
    this.scratch.remove();
  }

  private track(client: RawRtmpClient): RawRtmpClient {
    this.clients.push(client);
    return client;
  }
}

/**
 * Interop tests that run at the same time (see at-once.ts), each with a LiveTest of its own.
 *
 *   const tests = liveTests("late-join");
 *   tests.it("starts a late joiner at a keyframe", async (live) => { ... }, 45_000);
 */
export function liveTests(label: string, options: Pick<LiveTestOptions, "adjust"> = {}): TestsAtOnce<LiveTest> {
  return testsAtOnce(
    () => new LiveTest(label),
    (live) => live.restart(options.adjust),
  );
}

/** A LiveTest for the enclosing describe block: call it at the top of the block. */
export function liveTest(label: string, options: LiveTestOptions = {}): LiveTest {
  const live = new LiveTest(label);
  const start = async () => {
    await live.restart(options.adjust);
  };
  if (options.once === true) beforeAll(start);
  else beforeEach(start);
  afterEach(async () => {
    await live.endTest();
    if (options.once !== true) await live.stopServer();
  });
  afterAll(async () => {
    await live.stopServer();
    live.scratch.remove();
  });
  return live;
}
