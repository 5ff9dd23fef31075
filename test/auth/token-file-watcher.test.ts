import { afterEach, beforeEach, describe, expect, it, jest } from "bun:test";
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, watch, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Authorizer } from "../../src/auth/authorizer.ts";
import { createAuthorizer } from "../../src/auth/create-authorizer.ts";
import {
  TOKEN_FILE_DEBOUNCE_MS,
  TokenFileWatcher,
  type TokenFileWatcherOptions,
} from "../../src/auth/token-file-watcher.ts";
import { scratchDir } from "../helpers/media.ts";
import { eventLoopTurns, waitFor } from "../../support/wait.ts";
import { type LogCapture, authRequest, authSettings, capturedLog } from "./fixtures.ts";

/** Long enough that a timer set to it never fires during a test: that path is switched off. */
const NEVER = 3_600_000;
const WAIT_MS = 5_000;

let dir: { path: string; remove(): void };
let path: string;
const closers: { close(): void }[] = [];

beforeEach(() => {
  dir = scratchDir("auth-watch");
  path = join(dir.path, "tokens.json");
  writeFileSync(path, tokens("v1"));
});
afterEach(() => {
  for (const c of closers.splice(0)) c.close();
  jest.useRealTimers();
  dir.remove();
});

function tokens(token: string): string {
  return JSON.stringify({ "live/test": token }, null, 2);
}

function follow(options: TokenFileWatcherOptions = {}, file = path): { watcher: TokenFileWatcher; logs: LogCapture } {
  const { log, logs } = capturedLog();
  const watcher = new TokenFileWatcher(file, log, options);
  closers.push(watcher);
  return { watcher, logs };
}

function replaceByRename(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

async function waitForToken(watcher: TokenFileWatcher, token: string, logs: LogCapture): Promise<void> {
  await waitFor(() => watcher.tokens().get("live/test") === token, WAIT_MS, `token ${token}`, () => logs.tail());
}

function messages(logs: LogCapture): string[] {
  return logs.records().map((r) => String(r.msg));
}

/** Resolves when fs.watch reports `file` in `dir` changed: the test's own view of what the kernel said. */
function changeOf(file: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dir.path, { persistent: false }, (_event, name) => {
      if (name !== file) return;
      watcher.close();
      resolve();
    });
  });
}

/** With fake timers, a watch-only watcher keeps one timer (its periodic check) while no debounce is armed. */
const IDLE_TIMERS = 1;

/**
 * With the test's clock (fake timers): once `seen` reports the change, lets the event loop deliver it to the
 * watcher too (fs.watch callbacks are I/O, not timers) until its debounce timer is armed, then runs that:
 * the watcher has read the file after the change.
 */
async function debouncedRead(seen: Promise<void>): Promise<void> {
  await seen;
  await eventLoopTurns(1_000);
  expect(jest.getTimerCount(), "the watcher's debounce timer").toBe(IDLE_TIMERS + 1);
  jest.advanceTimersByTime(TOKEN_FILE_DEBOUNCE_MS);
}

describe("TokenFileWatcher through fs.watch (the periodic check switched off)", () => {
  const watchOnly = { pollMs: NEVER };

  it("follows an atomic rename over the file", async () => {
    const { watcher, logs } = follow(watchOnly);
    expect(watcher.tokens().get("live/test")).toBe("v1");
    replaceByRename(path, tokens("v2"));
    await waitForToken(watcher, "v2", logs);
    expect(logs.records().map(({ msg, file, streams }) => ({ msg, file, streams }))).toEqual([
      { msg: "auth token file reloaded", file: path, streams: 1 },
    ]);
  }, 10_000);

  it("follows an in-place rewrite, again and again", async () => {
    const { watcher, logs } = follow(watchOnly);
    for (const token of ["v2", "v3", "v4"]) {
      writeFileSync(path, tokens(token));
      await waitForToken(watcher, token, logs);
    }
    expect(messages(logs)).toEqual(Array(3).fill("auth token file reloaded"));
  }, 10_000);

  it("follows a Kubernetes ConfigMap update: a symlink swapped in the directory", async () => {
    // The layout kubelet writes: tokens.json -> ..data/tokens.json, ..data -> ..v1 (a timestamped directory).
    const mount = join(dir.path, "configmap");
    mkdirSync(join(mount, "..v1"), { recursive: true });
    writeFileSync(join(mount, "..v1", "tokens.json"), tokens("v1"));
    symlinkSync("..v1", join(mount, "..data"));
    symlinkSync("..data/tokens.json", join(mount, "tokens.json"));
    const { watcher, logs } = follow(watchOnly, join(mount, "tokens.json"));
    mkdirSync(join(mount, "..v2"));
    writeFileSync(join(mount, "..v2", "tokens.json"), tokens("v2"));
    symlinkSync("..v2", join(mount, "..data_tmp"));
    renameSync(join(mount, "..data_tmp"), join(mount, "..data"));
    rmSync(join(mount, "..v1"), { recursive: true });
    await waitForToken(watcher, "v2", logs);
  }, 10_000);

  it("keeps the last good tokens through a broken rewrite, logs why once, and takes the fixed file", async () => {
    jest.useFakeTimers();
    const { watcher, logs } = follow(watchOnly);
    let seen = changeOf("tokens.json");
    writeFileSync(path, '{"live/test": "v2",}');
    await debouncedRead(seen);
    expect(watcher.tokens().get("live/test")).toBe("v1");
    // More events about the same broken content, read again: no more lines.
    seen = changeOf("unrelated");
    writeFileSync(path, '{"live/test": "v2",}');
    writeFileSync(join(dir.path, "unrelated"), "x");
    await debouncedRead(seen);
    expect(logs.records().map(({ level, msg, error }) => ({ level, msg, error }))).toEqual([
      {
        level: "error",
        msg: "auth token file unusable, keeping the previous tokens",
        error: `${path}: not JSON: line 1, column 20: expected a quoted key`,
      },
    ]);
    seen = changeOf("tokens.json");
    replaceByRename(path, tokens("v3"));
    await debouncedRead(seen);
    expect(watcher.tokens().get("live/test")).toBe("v3");
    expect(messages(logs)).toEqual([
      "auth token file unusable, keeping the previous tokens",
      "auth token file reloaded",
    ]);
  }, 10_000);

  it("keeps the last good tokens while the file is missing, and takes it back when it returns", async () => {
    const { watcher, logs } = follow(watchOnly);
    unlinkSync(path);
    await waitFor(() => messages(logs).length > 0, WAIT_MS, "the error line", () => logs.tail());
    expect(logs.records()[0].error).toBe(`${path}: no such file`);
    expect(watcher.tokens().get("live/test")).toBe("v1");
    writeFileSync(path, tokens("v2"));
    await waitForToken(watcher, "v2", logs);
  }, 10_000);

  it("stops following once closed", async () => {
    jest.useFakeTimers();
    const { watcher, logs } = follow({ debounceMs: 10, pollMs: 20 });
    watcher.close();
    expect(jest.getTimerCount(), "no periodic check left").toBe(0);
    const seen = changeOf("tokens.json");
    writeFileSync(path, tokens("v2"));
    await seen;
    // A watch still open would have been told too, and armed its debounce timer.
    await eventLoopTurns(1_000);
    expect(jest.getTimerCount(), "no debounce armed by the change").toBe(0);
    jest.advanceTimersByTime(1_000);
    expect(watcher.tokens().get("live/test")).toBe("v1");
    expect(logs.lines).toEqual([]);
  });
});

describe("TokenFileWatcher's periodic check (fs.watch events ignored)", () => {
  const pollOnly = { debounceMs: NEVER, pollMs: 50 };

  it("notices an in-place rewrite by itself", async () => {
    const { watcher, logs } = follow(pollOnly);
    writeFileSync(path, tokens("v2"));
    await waitForToken(watcher, "v2", logs);
  }, 10_000);

  it("logs a broken file once however many checks see it", async () => {
    jest.useFakeTimers();
    const { watcher, logs } = follow(pollOnly);
    writeFileSync(path, "not json");
    jest.advanceTimersByTime(pollOnly.pollMs);
    expect(messages(logs)).toEqual(["auth token file unusable, keeping the previous tokens"]);
    // Ten more checks, each reading the file again (it changed less than a second ago): no more lines.
    jest.advanceTimersByTime(10 * pollOnly.pollMs);
    expect(messages(logs)).toEqual(["auth token file unusable, keeping the previous tokens"]);
    expect(watcher.tokens().get("live/test")).toBe("v1");
  }, 10_000);
});

describe("TokenFileWatcher when its directory is replaced", () => {
  it("finds the new directory's file, which fs.watch on the old one cannot see", async () => {
    const conf = join(dir.path, "conf");
    mkdirSync(conf);
    writeFileSync(join(conf, "tokens.json"), tokens("v1"));
    const { watcher, logs } = follow({ pollMs: 50 }, join(conf, "tokens.json"));
    renameSync(conf, join(dir.path, "conf.old"));
    mkdirSync(conf);
    writeFileSync(join(conf, "tokens.json"), tokens("v2"));
    await waitForToken(watcher, "v2", logs);
    writeFileSync(join(conf, "tokens.json"), tokens("v3"));
    await waitForToken(watcher, "v3", logs);
  }, 10_000);
});

describe("TokenFileWatcher.reload (SIGHUP)", () => {
  const still = { debounceMs: NEVER, pollMs: NEVER };

  it("re-reads the file at once", () => {
    const { watcher, logs } = follow(still);
    writeFileSync(path, JSON.stringify({ "live/test": "v2", "live/other": "o" }));
    watcher.reload();
    expect(Object.fromEntries(watcher.tokens())).toEqual({ "live/test": "v2", "live/other": "o" });
    expect(logs.records().map(({ msg, streams }) => ({ msg, streams }))).toEqual([
      { msg: "auth token file reloaded", streams: 2 },
    ]);
  });

  it("says so even when nothing changed, and says why each time it cannot", () => {
    const { watcher, logs } = follow(still);
    watcher.reload();
    writeFileSync(path, "[]");
    watcher.reload();
    watcher.reload();
    expect(watcher.tokens().get("live/test")).toBe("v1");
    expect(logs.records().map(({ level, msg }) => `${level} ${msg}`)).toEqual([
      "info auth token file reloaded",
      "error auth token file unusable, keeping the previous tokens",
      "error auth token file unusable, keeping the previous tokens",
    ]);
  });
});

describe("file mode", () => {
  function fileAuth(): { auth: Authorizer; logs: LogCapture } {
    const { log, logs } = capturedLog();
    const auth = createAuthorizer(authSettings({ mode: "file", file: path }), log);
    closers.push(auth);
    return { auth, logs };
  }

  it("allows the file's token and refuses others like token mode", () => {
    const { auth } = fileAuth();
    expect(auth.check(authRequest({ query: { token: "v1" } }))).toEqual({ allowed: true });
    expect(auth.check(authRequest({ query: { token: "v2" } }))).toEqual({ allowed: false, reason: "invalid token" });
    expect(auth.check(authRequest())).toEqual({ allowed: false, reason: "token missing" });
    const unlisted = authRequest({ streamKey: "live/x", name: "x", query: { token: "v1" } });
    expect(auth.check(unlisted)).toEqual({ allowed: false, reason: "no token configured for this stream" });
  });

  it("takes a new token from an atomic rename without a restart, and on reload()", async () => {
    const { auth, logs } = fileAuth();
    const allows = (token: string) => (auth.check(authRequest({ query: { token } })) as { allowed: boolean }).allowed;
    replaceByRename(path, tokens("v2"));
    await waitFor(() => allows("v2"), WAIT_MS, "the new token", () => logs.tail());
    expect(allows("v1")).toBe(false);
    writeFileSync(path, tokens("v3"));
    auth.reload();
    expect(allows("v3")).toBe(true);
    expect(logs.lines.join("\n")).not.toMatch(/"v[123]"/);
  }, 10_000);

  it("cannot start on a file that broke after the config check", () => {
    writeFileSync(path, "{");
    const { log } = capturedLog();
    expect(() => createAuthorizer(authSettings({ mode: "file", file: path }), log)).toThrow(
      `${path}: not JSON: line 1, column 2: expected a quoted key`,
    );
  });
});
