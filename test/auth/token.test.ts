import { describe, expect, it } from "bun:test";
import { createAuthorizer } from "../../src/auth/create-authorizer.ts";
import { secretsEqual } from "../../src/auth/secret-compare.ts";
import { authRequest, authSettings, capturedLog } from "./fixtures.ts";

const TOKENS = { "live/test": "s3cret-token", "live/other": "another-token" };

function tokenAuth(overrides: Parameters<typeof authSettings>[0] = {}) {
  const { log, logs } = capturedLog();
  return { auth: createAuthorizer(authSettings({ mode: "token", tokens: TOKENS, ...overrides }), log), logs };
}

describe("none mode", () => {
  it("allows every publish and play without a token, and logs nothing", () => {
    const { log, logs } = capturedLog();
    const auth = createAuthorizer(authSettings({ mode: "none" }), log);
    expect(auth.check(authRequest({ action: "publish" }))).toEqual({ allowed: true });
    expect(auth.check(authRequest({ action: "play", streamKey: "any/thing", query: { token: "x" } }))).toEqual({
      allowed: true,
    });
    auth.reload();
    auth.close();
    expect(logs.lines).toEqual([]);
  });
});

describe("token mode", () => {
  it("allows the stream's own token, for publish and for play", () => {
    const { auth } = tokenAuth();
    for (const action of ["publish", "play"] as const) {
      expect(auth.check(authRequest({ action, query: { token: "s3cret-token" } }))).toEqual({ allowed: true });
    }
    const other = authRequest({ streamKey: "live/other", name: "other", query: { token: "another-token" } });
    expect(auth.check(other)).toEqual({ allowed: true });
  });

  it("refuses a missing or empty token", () => {
    const { auth } = tokenAuth();
    expect(auth.check(authRequest())).toEqual({ allowed: false, reason: "token missing" });
    expect(auth.check(authRequest({ query: { token: "" } }))).toEqual({ allowed: false, reason: "token missing" });
  });

  it("refuses a wrong token: another stream's, a prefix, an extension, another case", () => {
    const { auth } = tokenAuth();
    for (const token of ["another-token", "s3cret", "s3cret-token2", "S3CRET-TOKEN", " s3cret-token"]) {
      expect(auth.check(authRequest({ query: { token } }))).toEqual({ allowed: false, reason: "invalid token" });
    }
  });

  it("refuses a stream with no entry, whatever token it brings", () => {
    const { auth } = tokenAuth();
    const unlisted = authRequest({ streamKey: "live/unlisted", name: "unlisted", query: { token: "s3cret-token" } });
    expect(auth.check(unlisted)).toEqual({ allowed: false, reason: "no token configured for this stream" });
  });

  it("does not mistake Object.prototype's names for configured streams", () => {
    const { auth } = tokenAuth();
    for (const streamKey of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const request = authRequest({ app: "", name: streamKey, streamKey, query: { token: "[object Object]" } });
      expect(auth.check(request)).toEqual({ allowed: false, reason: "no token configured for this stream" });
    }
  });

  it("reads only the query's own token, not one inherited from its prototype", () => {
    const { auth } = tokenAuth();
    const query = Object.create({ token: "s3cret-token" }) as Record<string, string>;
    expect(auth.check(authRequest({ query }))).toEqual({ allowed: false, reason: "token missing" });
  });

  it("lets an action outside auth.actions through unchecked", () => {
    const { auth } = tokenAuth({ actions: ["publish"] });
    expect(auth.check(authRequest({ action: "play" }))).toEqual({ allowed: true });
    expect(auth.check(authRequest({ action: "publish" }))).toEqual({ allowed: false, reason: "token missing" });
    const { auth: none } = tokenAuth({ actions: [] });
    expect(none.check(authRequest({ action: "publish" }))).toEqual({ allowed: true });
  });

  it("logs its mode and actions at start, and never a token", () => {
    const { auth, logs } = tokenAuth();
    auth.check(authRequest({ query: { token: "s3cret-token" } }));
    auth.check(authRequest({ query: { token: "guess-token" } }));
    expect(logs.records().map(({ msg, mode, actions }) => ({ msg, mode, actions }))).toEqual([
      { msg: "auth enabled", mode: "token", actions: ["publish", "play"] },
    ]);
    expect(logs.lines.join("\n")).not.toMatch(/s3cret|guess|another-token/);
  });
});

describe("secretsEqual", () => {
  it("is true only for equal strings, whatever their lengths", () => {
    expect(secretsEqual("s3cret", "s3cret")).toBe(true);
    expect(secretsEqual("", "")).toBe(true);
    expect(secretsEqual("jalapeño ✓", "jalapeño ✓")).toBe(true);
    expect(secretsEqual("s3cret", "s3cres")).toBe(false);
    expect(secretsEqual("s3cret", "s3cret ")).toBe(false);
    expect(secretsEqual("", "s3cret")).toBe(false);
    expect(secretsEqual("x".repeat(10_000), "x".repeat(10_001))).toBe(false);
    expect(secretsEqual("jalapeno", "jalapeño")).toBe(false);
  });
});
