/**
 * Comparing a secret a client sent with the configured one in constant time. Both are HMACed with a key
 * drawn at start, so timingSafeEqual compares two equal-length digests: neither where they first differ nor
 * how long the configured secret is can be learnt from the time it takes.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const KEY = randomBytes(32);

export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function digest(secret: string): Buffer {
  return createHmac("sha256", KEY).update(secret, "utf8").digest();
}
