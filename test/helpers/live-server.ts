/**
 * The server under test, in-process on 127.0.0.1 with an OS-chosen port and its JSON log lines captured, plus
 * the one readiness check the interop tests share: "is this stream live yet", asked the way a player would.
 */
import { type Config, DEFAULT_CONFIG } from "../../src/config/config.ts";
import { createLogger } from "../../src/logger.ts";
import { type RtmpServer, startServer } from "../../src/server.ts";
import { sleep, waitFor } from "./media.ts";
import { RawRtmpClient, isVideoFrame } from "./raw-rtmp-client.ts";

export type LogRecord = Record<string, unknown> & { msg?: string; level?: string };

/** The server's log lines, kept in memory for assertions and failure messages. */
export class LogCapture {
  readonly lines: string[] = [];
  readonly write = (line: string): void => {
    this.lines.push(line);
  };

  records(): LogRecord[] {
    return this.lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as LogRecord];
      } catch {
        return [];
      }
    });
  }

  /** The last `n` lines, for failure messages. */
  tail(n = 30): string {
    return this.lines.slice(-n).join("\n");
  }
}

export interface TestServer {
  readonly config: Config;
  readonly port: number;
  readonly logs: LogCapture;
  readonly server: RtmpServer;
  /** rtmp://127.0.0.1:PORT/APP/NAME */
  url(name: string, app?: string): string;
  /** Resolves once `app/name` has at least `count` subscribed players (e.g. FFmpeg players that are waiting). */
  waitForPlayers(name: string, count: number, timeoutMs?: number, app?: string): Promise<void>;
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
    stop: () => {
      stopped ??= Promise.race([
        Promise.resolve(server.stop()),
        sleep(15_000).then(() => {
          throw new Error("server.stop() did not finish within 15 s");
        }),
      ]);
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
    const client = await RawRtmpClient.open(port);
    try {
      await client.doHandshake();
      await client.play(app, name);
      const wait = Math.max(100, Math.min(2_000, deadline - performance.now()));
      const frame = await client.waitFor(isVideoFrame, wait, `a video frame of ${app}/${name}`);
      return frame.at - client.openedAt;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    } finally {
      client.close();
    }
    await sleep(50);
  }
  throw new Error(`${app}/${name} did not go live within ${timeoutMs} ms; last attempt: ${last}`);
}
