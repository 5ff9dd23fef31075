import { afterEach, describe, expect, it } from "bun:test";
import type { Server } from "bun";
import type { AuthDecision, Authorizer } from "../../src/auth/authorizer.ts";
import { MAX_PENDING_CALLBACKS } from "../../src/auth/callback-auth.ts";
import { createAuthorizer } from "../../src/auth/create-authorizer.ts";
import { freePort } from "../../support/free-port.ts";
import { waitFor } from "../../support/wait.ts";
import { type LogCapture, authRequest, authSettings, capturedLog } from "./fixtures.ts";

interface Received {
  method: string;
  path: string;
  contentType: string | null;
  body: unknown;
}

/** A real HTTP receiver on 127.0.0.1 that records each callback and answers with `answer`. */
class Receiver {
  readonly received: Received[] = [];
  /** Requests the receiver holds without answering, until release() or stop(). */
  private readonly held: (() => void)[] = [];
  readonly server: Server<undefined>;

  constructor(answer: (path: string) => Response | "never") {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (request) => {
        const path = new URL(request.url).pathname;
        this.received.push({
          method: request.method,
          path,
          contentType: request.headers.get("content-type"),
          body: await request.json().catch(() => "(not JSON)"),
        });
        const response = answer(path);
        if (response !== "never") return response;
        return new Promise<Response>((resolve) => this.held.push(() => resolve(new Response("ok"))));
      },
    });
  }

  /** Answers every held request with 200. */
  release(): void {
    for (const answer of this.held.splice(0)) answer();
  }

  url(path = "/auth"): string {
    return `http://127.0.0.1:${this.server.port}${path}`;
  }

  async stop(): Promise<void> {
    this.release();
    await this.server.stop(true);
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function receiver(answer: (path: string) => Response | "never"): Receiver {
  const r = new Receiver(answer);
  cleanups.push(() => r.stop());
  return r;
}

function callbackAuth(url: string, timeoutMs = 5_000): { auth: Authorizer; logs: LogCapture } {
  const { log, logs } = capturedLog();
  const settings = authSettings({ mode: "callback", callbackUrl: url, callbackTimeoutMs: timeoutMs });
  const auth = createAuthorizer(settings, log);
  cleanups.push(() => auth.close());
  return { auth, logs };
}

const PUBLISH = authRequest({ query: { token: "s3cret", other: "x" }, clientIp: "192.0.2.7" });

describe("callback mode", () => {
  it("POSTs the request as JSON and allows on 200", async () => {
    const r = receiver(() => new Response("ok"));
    const { auth } = callbackAuth(r.url());
    const decision = auth.check(PUBLISH);
    expect(decision).toBeInstanceOf(Promise);
    expect(await decision).toEqual({ allowed: true });
    expect(r.received).toEqual([
      {
        method: "POST",
        path: "/auth",
        contentType: "application/json",
        body: {
          action: "publish",
          app: "live",
          name: "test",
          stream_key: "live/test",
          token: "s3cret",
          client_ip: "192.0.2.7",
        },
      },
    ]);
  });

  it("sends an empty token when the client gave none, and play as the action", async () => {
    const r = receiver(() => new Response(null, { status: 204 }));
    const { auth } = callbackAuth(r.url());
    const play = authRequest({ action: "play", app: "games", name: "room/1", streamKey: "games/room/1" });
    expect(await auth.check(play)).toEqual({ allowed: true });
    expect(r.received[0].body).toEqual({
      action: "play",
      app: "games",
      name: "room/1",
      stream_key: "games/room/1",
      token: "",
      client_ip: "127.0.0.1",
    });
  });

  it("allows any 2xx and refuses every other status, naming it", async () => {
    const r = receiver((path) => {
      const status = Number(path.slice(1));
      return new Response(null, { status, headers: status >= 300 && status < 400 ? { location: "/redirected" } : {} });
    });
    for (const status of [200, 201, 204, 299, 301, 302, 307, 400, 401, 403, 404, 500, 503]) {
      const { auth } = callbackAuth(r.url(`/${status}`));
      const reason = `callback answered HTTP ${status}`;
      const expected: AuthDecision = status < 300 ? { allowed: true } : { allowed: false, reason };
      expect({ status, decision: await auth.check(PUBLISH) }).toEqual({ status, decision: expected });
    }
    // A redirect is a refusal, not an instruction: its target was never asked.
    expect(r.received.filter((request) => request.path === "/redirected")).toEqual([]);
  });

  it("refuses when the receiver does not answer within callback_timeout", async () => {
    const r = receiver(() => "never");
    const { auth, logs } = callbackAuth(r.url(), 300);
    const started = performance.now();
    expect(await auth.check(PUBLISH)).toEqual({ allowed: false, reason: "callback timed out" });
    // It waited out the 300 ms (the test's own clock can only show more).
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(logs.records().find((record) => record.msg === "auth callback timed out")).toMatchObject({
      level: "warn",
      url: r.url(),
      timeout_ms: 300,
      stream_key: "live/test",
    });
  });

  it("refuses when nothing listens at the URL", async () => {
    const { auth, logs } = callbackAuth(`http://127.0.0.1:${freePort()}/auth`);
    expect(await auth.check(PUBLISH)).toEqual({ allowed: false, reason: "callback unreachable" });
    expect(logs.records().find((record) => record.msg === "auth callback unreachable")).toMatchObject({
      level: "warn",
      error: "ECONNREFUSED",
    });
  });

  it("never logs the token, the URL's query or its credentials", async () => {
    const r = receiver(() => "never");
    const { auth, logs } = callbackAuth(`http://admin:pa55word@127.0.0.1:${r.server.port}/auth?key=k3y#frag`, 200);
    expect(await auth.check(PUBLISH)).toEqual({ allowed: false, reason: "callback timed out" });
    expect(logs.records().flatMap(({ msg, url }) => (url === undefined ? [] : [{ msg, url }]))).toEqual([
      { msg: "auth callback", url: r.url() },
      { msg: "auth callback timed out", url: r.url() },
    ]);
    expect(logs.lines.join("\n")).not.toMatch(/s3cret|k3y|pa55word|frag/);
  });

  it("refuses at once past MAX_PENDING_CALLBACKS, logging it once, and recovers when answers come", async () => {
    const r = receiver(() => "never");
    const { auth, logs } = callbackAuth(r.url(), 30_000);
    const pending = Array.from({ length: MAX_PENDING_CALLBACKS }, () => auth.check(PUBLISH));
    const atBound = { allowed: false, reason: `too many auth callbacks pending (${MAX_PENDING_CALLBACKS})` };
    for (let i = 0; i < 5; i++) expect(auth.check(PUBLISH)).toEqual(atBound);
    expect(logs.records().filter((record) => record.level === "warn")).toMatchObject([
      { msg: "auth callbacks: too many pending, refusing new requests", pending: MAX_PENDING_CALLBACKS },
    ]);
    await waitFor(() => r.received.length === MAX_PENDING_CALLBACKS, 10_000, "every callback at the receiver");
    r.release();
    expect(await Promise.all(pending)).toEqual(Array(MAX_PENDING_CALLBACKS).fill({ allowed: true }));
    expect(logs.records().find((record) => record.msg === "auth callbacks: accepting requests again")).toMatchObject({
      refused: 5,
    });
    expect(auth.check(PUBLISH)).toBeInstanceOf(Promise);
  }, 20_000);

  it("resolves pending callbacks as refused on close, and refuses after it", async () => {
    const r = receiver(() => "never");
    const { auth } = callbackAuth(r.url(), 30_000);
    const pending = [auth.check(PUBLISH), auth.check(PUBLISH)];
    await waitFor(() => r.received.length === 2, 5_000, "both callbacks at the receiver");
    auth.close();
    const shutdown = { allowed: false, reason: "server shutting down" };
    expect(await Promise.all(pending)).toEqual([shutdown, shutdown]);
    expect(auth.check(PUBLISH)).toEqual(shutdown);
  });
});
