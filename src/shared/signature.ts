/**
 * Signed stream keys: `EXPIRES-HEX`, HEX the lowercase hex HMAC-SHA256, keyed with a shared secret, of
 * `/{app}/{name}-{EXPIRES}`. auth.mode sign checks viewers' and publishers' URLs with it (auth.secret), and
 * cluster nodes sign their pulls with it (cluster.secret).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { AuthDecision } from "./access.ts";

/** EXPIRES in canonical decimal (what signStreamKey writes), then 64 lowercase hex digits. */
const SIGN_FORMAT = /^(0|[1-9][0-9]{0,14})-([0-9a-f]{64})$/;

/**
 * `EXPIRES-HEX` for `streamKey` ("app/name"), valid until `expiresAtSec` (Unix seconds). The signed string is
 * `/{streamKey}-{EXPIRES}`, which is `/{app}/{name}-{EXPIRES}` for every key with an app.
 */
export function signStreamKey(streamKey: string, secret: string, expiresAtSec: number): string {
  if (!Number.isSafeInteger(expiresAtSec) || expiresAtSec < 0) {
    throw new RangeError(`expiry must be a whole number of Unix seconds, got ${expiresAtSec}`);
  }
  return `${expiresAtSec}-${mac(streamKey, secret, String(expiresAtSec)).toString("hex")}`;
}

/**
 * Checks a `sign` query value for `streamKey` at `nowSec` (Unix seconds), in constant time. Valid until the
 * end of its EXPIRES second. The signature is checked before the expiry, so "expired" means genuine.
 */
export function verifySignedStreamKey(sign: string, streamKey: string, secret: string, nowSec: number): AuthDecision {
  if (sign === "") return { allowed: false, reason: "signature missing" };
  const parts = SIGN_FORMAT.exec(sign);
  if (parts === null) return { allowed: false, reason: "malformed signature: expected EXPIRES-HEX" };
  const [, expires, hex] = parts;
  if (!timingSafeEqual(Buffer.from(hex, "hex"), mac(streamKey, secret, expires))) return { allowed: false, reason: "invalid signature" };
  return nowSec > Number(expires) ? { allowed: false, reason: "signature expired" } : { allowed: true };
}

function mac(streamKey: string, secret: string, expires: string): Buffer {
  return createHmac("sha256", secret).update(`/${streamKey}-${expires}`, "utf8").digest();
}
