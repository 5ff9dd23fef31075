/**
 * What the hook tests share: a real webhook receiver (Bun.serve on 127.0.0.1) that records every request and
 * answers as the test says, including holding a request open; and a HookRunner attached to a real
 * EventChannel, with its log records and stdout captured.
 */
import { EventChannel, type ServerEvent } from "../../src/events/events.ts";
import { HookRunner, type HookSettings } from "../../src/hooks/hook-runner.ts";
import type { HookCounts } from "../../src/hooks/hook-stats.ts";
import { capturedLog, type LogCapture } from "../helpers/log-capture.ts";

export interface Received {
  readonly path: string;
  readonly headers: Headers;
  /** The exact body bytes. */
  readonly body: Uint8Array;
  readonly event: ServerEvent;
}

export class Receiver {
  /** Every request, in arrival order. */
  readonly received: Received[] = [];
  /** Requests being answered right now, and the most ever at once, per path. */
  readonly open = new Map<string, number>();
  readonly maxOpen = new Map<string, number>();
  /** How a request is answered; a held request awaits hold(). Default: 200. */
  answer: (request: Received) => Response | Promise<Response> = () => new Response("ok");
  private releases: (() => void)[] = [];
  private readonly server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => this.handle(req) });

  url(path: string): string {
    return `http://127.0.0.1:${this.server.port}${path}`;
  }

  /** The events that reached `path`, in arrival order. */
  events(path: string): ServerEvent[] {
    return this.received.filter((r) => r.path === path).map((r) => r.event);
  }

  /** Resolves at release() or stop(): an answer that awaits it holds its request open until then. */
  hold(): Promise<void> {
    return new Promise((resolve) => this.releases.push(resolve));
  }

  release(): void {
    for (const release of this.releases.splice(0)) release();
  }

  stop(): void {
    this.release();
    this.server.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const body = new Uint8Array(await req.arrayBuffer());
    const received: Received = { path, headers: req.headers, body, event: JSON.parse(new TextDecoder().decode(body)) };
    this.received.push(received);
    const open = (this.open.get(path) ?? 0) + 1;
    this.open.set(path, open);
    this.maxOpen.set(path, Math.max(open, this.maxOpen.get(path) ?? 0));
    try {
      return await this.answer(received);
    } finally {
      this.open.set(path, (this.open.get(path) ?? 1) - 1);
    }
  }
}

export const BASE_SETTINGS: HookSettings = {
  // What the CLI hands over: the test process's own PATH and HOME.
  inherited: { PATH: process.env.PATH!, HOME: process.env.HOME! },
  timeoutMs: 5_000,
  concurrency: 10,
  stdio: "off",
  secret: "",
  webhooks: [],
  scripts: [],
};

export interface Harness {
  readonly runner: HookRunner;
  readonly channel: EventChannel;
  readonly logs: LogCapture;
  /** What the runner wrote to stdout, one entry per write. */
  readonly printed: string[];
}

export function startHooks(settings: Partial<HookSettings>): Harness {
  const { log, logs } = capturedLog();
  const printed: string[] = [];
  const runner = new HookRunner({ ...BASE_SETTINGS, ...settings }, log, (text) => printed.push(text));
  const channel = new EventChannel(log);
  runner.attach(channel);
  return { runner, channel, logs, printed };
}

/** Deliveries that ended (ok + failed + timeout), not counting drops. */
export function finished(counts: HookCounts): number {
  return counts.ok + counts.failed + counts.timeout;
}
