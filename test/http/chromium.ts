/**
 * Headless Chromium for the browser tests, isolated in its own profile: run once over a page (--dump-dom,
 * --screenshot), or kept open on a page and asked about it over the DevTools protocol (Runtime.evaluate), for
 * what a page does over time, such as a video that plays.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import type { Child, Children } from "../../support/children.ts";
import { waitFor, within } from "../../support/wait.ts";

function command(dir: string, flags: string[], url: string): string[] {
  return [
    "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", `--user-data-dir=${join(dir, "profile")}`, ...flags, url,
  ];
}

/** Chromium on `url` with `mode` (e.g. ["--dump-dom"]) after 5 s of the page's virtual time; what it printed. */
export async function chromiumOnce(children: Children, dir: string, url: string, mode: string[]): Promise<string> {
  const browser = children.spawn("chromium", command(dir, ["--virtual-time-budget=5000", ...mode], url));
  const code = await browser.waitExit(45_000);
  expect(code, browser.describe()).toBe(0);
  return browser.stdout;
}

/** A page open in Chromium, driven over the DevTools protocol. */
export class DevToolsPage {
  private nextId = 0;
  private readonly pending = new Map<number, (reply: DevToolsReply) => void>();

  private constructor(
    private readonly browser: Child,
    private readonly socket: WebSocket,
  ) {
    socket.onmessage = (event) => {
      const reply = JSON.parse(String(event.data)) as DevToolsReply;
      if (reply.id !== undefined) this.pending.get(reply.id)?.(reply);
    };
  }

  /** Chromium started on `url` (real time, the default autoplay policy), with the page's DevTools socket open. */
  static async open(children: Children, dir: string, url: string): Promise<DevToolsPage> {
    const browser = children.spawn("chromium", command(dir, ["--remote-debugging-port=0"], url));
    const listening = /DevTools listening on (ws:\/\/\S+)/;
    await waitFor(() => listening.test(browser.stderr) || !browser.running, 30_000, "Chromium's DevTools address", () => browser.describe());
    const address = listening.exec(browser.stderr);
    if (address === null) throw new Error(`Chromium exited early\n${browser.describe()}`);
    const targets = (await (await fetch(`http://${new URL(address[1]).host}/json/list`)).json()) as DevToolsTarget[];
    const target = targets.find((t) => t.type === "page");
    if (target === undefined) throw new Error(`no page among Chromium's targets: ${JSON.stringify(targets)}`);
    const socket = new WebSocket(target.webSocketDebuggerUrl);
    await within(
      new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = () => reject(new Error("the DevTools socket failed"));
      }),
      10_000,
      "the DevTools socket",
    );
    return new DevToolsPage(browser, socket);
  }

  /** One DevTools command's result; throws with its error. */
  async send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.nextId;
    const reply = await within(
      new Promise<DevToolsReply>((resolve) => {
        this.pending.set(id, resolve);
        this.socket.send(JSON.stringify({ id, method, params }));
      }),
      10_000,
      `DevTools ${method}`,
    );
    this.pending.delete(id);
    if (reply.error !== undefined) throw new Error(`DevTools ${method}: ${reply.error.message}`);
    return reply.result ?? {};
  }

  /** The value of a JavaScript expression in the page (JSON-serialisable); throws what the page threw. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", { expression, returnByValue: true });
    const thrown = result.exceptionDetails as { text: string; exception?: { description?: string } } | undefined;
    if (thrown !== undefined) throw new Error(`${expression}: ${thrown.exception?.description ?? thrown.text}`);
    return (result.result as { value: T }).value;
  }

  /** A PNG of the page as it is now. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    return Buffer.from(String(data), "base64");
  }

  /** Closes the socket and stops Chromium (SIGTERM: it takes its helper processes down with it). */
  async close(): Promise<void> {
    this.socket.close();
    this.browser.kill("SIGTERM");
    await this.browser.waitExit(15_000);
  }

  /** For assertion messages: Chromium's command line and output. */
  describe(): string {
    return this.browser.describe();
  }
}

interface DevToolsTarget {
  type: string;
  url: string;
  webSocketDebuggerUrl: string;
}

interface DevToolsReply {
  id?: number;
  result?: Record<string, unknown>;
  error?: { message: string };
}
