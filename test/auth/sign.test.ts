import { describe, expect, it } from "bun:test";
import { createHmac } from "node:crypto";
import { createAuthorizer } from "../../src/auth/create-authorizer.ts";
import { signStreamKey, verifySignedStreamKey } from "../../src/shared/signature.ts";
import { authRequest, authSettings, capturedLog } from "./fixtures.ts";

const SECRET = "correct horse battery staple";
const EXPIRES = 1767225600;

describe("signStreamKey", () => {
  it("signs /live/test-1767225600: the contract's example, against node:crypto and openssl", () => {
    const independent = createHmac("sha256", SECRET).update("/live/test-1767225600").digest("hex");
    // printf '/live/test-1767225600' | openssl dgst -sha256 -hmac 'correct horse battery staple'
    expect(independent).toBe("37f2c29628c9ff9d4e303a7048edcccd26dc2d634e059a4084c3c800f1f87edd");
    expect(signStreamKey("live/test", SECRET, EXPIRES)).toBe(`1767225600-${independent}`);
  });

  it("signs a key without an app as /{name}-{EXPIRES}", () => {
    // printf '/test-1767225600' | openssl dgst -sha256 -hmac 'correct horse battery staple'
    expect(signStreamKey("test", SECRET, EXPIRES)).toBe(
      "1767225600-d9509ce560377dcb1babb09a8bd733a1f1bfa63dfd4f2226243639c51de6dc77",
    );
  });

  it("refuses an expiry that is not a whole number of seconds", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => signStreamKey("live/test", SECRET, bad)).toThrow("expiry must be a whole number of Unix seconds");
    }
  });
});

describe("verifySignedStreamKey", () => {
  const sign = signStreamKey("live/test", SECRET, EXPIRES);
  const verify = (value: string, nowSec = EXPIRES - 60, key = "live/test", secret = SECRET) =>
    verifySignedStreamKey(value, key, secret, nowSec);

  it("allows its own signature up to and including the expiry second", () => {
    expect(verify(sign, EXPIRES - 3600)).toEqual({ allowed: true });
    expect(verify(sign, EXPIRES)).toEqual({ allowed: true });
  });

  it("refuses it one second after the expiry", () => {
    expect(verify(sign, EXPIRES + 1)).toEqual({ allowed: false, reason: "signature expired" });
  });

  it("refuses a forged signature: one hex digit changed, another key's, another secret's, a moved expiry", () => {
    const lastDigit = sign.at(-1) === "0" ? "1" : "0";
    const forgeries = [
      sign.slice(0, -1) + lastDigit,
      signStreamKey("live/other", SECRET, EXPIRES),
      signStreamKey("live/test", "another secret", EXPIRES),
      `${EXPIRES + 86400}${sign.slice(String(EXPIRES).length)}`,
    ];
    for (const forged of forgeries) expect(verify(forged)).toEqual({ allowed: false, reason: "invalid signature" });
    expect(verify(sign, EXPIRES - 60, "live/test2")).toEqual({ allowed: false, reason: "invalid signature" });
  });

  it("refuses an expired forgery as invalid, not as expired", () => {
    expect(verify(signStreamKey("live/test", "guess", EXPIRES), EXPIRES + 1)).toEqual({
      allowed: false,
      reason: "invalid signature",
    });
  });

  it("refuses a missing or malformed signature", () => {
    const hex = sign.slice(String(EXPIRES).length + 1);
    expect(verify("")).toEqual({ allowed: false, reason: "signature missing" });
    const malformed = [
      hex,
      `${EXPIRES}`,
      `${EXPIRES}-`,
      `${EXPIRES}-${hex.toUpperCase()}`,
      `${EXPIRES}-${hex.slice(0, -2)}`,
      `${EXPIRES}-${hex}00`,
      `0${EXPIRES}-${hex}`,
      `+${EXPIRES}-${hex}`,
      `${EXPIRES}.0-${hex}`,
      `${EXPIRES}-${hex}\n`,
      `1${"0".repeat(20)}-${hex}`,
    ];
    for (const value of malformed) {
      expect(verify(value)).toEqual({ allowed: false, reason: "malformed signature: expected EXPIRES-HEX" });
    }
  });
});

describe("sign mode", () => {
  const nowSec = () => Math.floor(Date.now() / 1000);

  it("allows a request carrying a valid ?sign= and refuses expired and forged ones", () => {
    const { log } = capturedLog();
    const auth = createAuthorizer(authSettings({ mode: "sign", secret: SECRET }), log);
    const check = (sign: string) => auth.check(authRequest({ query: { sign } }));
    expect(check(signStreamKey("live/test", SECRET, nowSec() + 3600))).toEqual({ allowed: true });
    const expired = signStreamKey("live/test", SECRET, nowSec() - 10);
    expect(check(expired)).toEqual({ allowed: false, reason: "signature expired" });
    const forged = signStreamKey("live/test", "wrong", nowSec() + 3600);
    expect(check(forged)).toEqual({ allowed: false, reason: "invalid signature" });
    expect(auth.check(authRequest())).toEqual({ allowed: false, reason: "signature missing" });
    auth.close();
  });

  it("checks play as well as publish, and lets an action outside auth.actions through", () => {
    const { log } = capturedLog();
    const auth = createAuthorizer(authSettings({ mode: "sign", secret: SECRET, actions: ["publish"] }), log);
    expect(auth.check(authRequest({ action: "publish" }))).toEqual({ allowed: false, reason: "signature missing" });
    expect(auth.check(authRequest({ action: "play" }))).toEqual({ allowed: true });
    const both = createAuthorizer(authSettings({ mode: "sign", secret: SECRET }), log);
    expect(both.check(authRequest({ action: "play" }))).toEqual({ allowed: false, reason: "signature missing" });
  });

  it("refuses to start without a secret: an empty HMAC key is everyone's", () => {
    const { log } = capturedLog();
    expect(() => createAuthorizer(authSettings({ mode: "sign", secret: "" }), log)).toThrow(
      "auth.secret is required when auth.mode is sign",
    );
  });
});
