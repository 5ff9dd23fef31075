/**
 * Stream-key patterns, as recording.streams and a relay destination's streams list them: a key written out
 * ("live/main"), or a glob where `*` stands for any run of characters, "/" included ("live/*", "*-hd").
 * Matching is literal and case-sensitive otherwise, and linear in the key's length (no regex backtracking).
 */
import { MAX_KEY_LENGTH } from "../shared/stream-name.ts";

/** One test for "is this key selected": an empty list selects every key. */
export function keyMatcher(patterns: readonly string[]): (key: string) => boolean {
  if (patterns.length === 0) return () => true;
  const globs = patterns.map((pattern) => pattern.split("*"));
  return (key) => globs.some((parts) => matchesGlob(parts, key));
}

/**
 * Whether `pattern` can ever select a key the server builds: not empty, no longer than a key, no spaces or
 * control characters, no "?" (a key never holds its query, and "?" is not a wildcard here), and no empty,
 * "." or ".." path segments (the server drops those from keys).
 */
export function validKeyPattern(pattern: string): boolean {
  if (pattern === "" || pattern.length > MAX_KEY_LENGTH) return false;
  if (/[\s?\u0000-\u001f\u007f]/.test(pattern)) return false;
  return pattern.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

/** Whether `key` is a plain stream key "app/name" (no glob) that the server could build. */
export function isStreamKey(key: string): boolean {
  return key.includes("/") && !key.includes("*") && validKeyPattern(key);
}

/** `parts` is the glob split at "*": the first part is a prefix, the last a suffix, the rest in order between. */
function matchesGlob(parts: readonly string[], key: string): boolean {
  if (parts.length === 1) return key === parts[0];
  const first = parts[0];
  const last = parts[parts.length - 1];
  if (key.length < first.length + last.length || !key.startsWith(first) || !key.endsWith(last)) return false;
  // Taking each middle part at its leftmost place leaves the most room for the rest, so one pass decides.
  let at = first.length;
  const end = key.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = key.indexOf(parts[i], at);
    if (found < 0 || found + parts[i].length > end) return false;
    at = found + parts[i].length;
  }
  return true;
}
