/**
 * The value syntaxes of the operator interface — durations, sizes, listen addresses, URLs, enums — shared
 * by the YAML loader and the flag parser. Each parser throws a ValueError saying what it expected and got;
 * the caller adds where (file:line: key, or the flag).
 */
import { isStreamKey, validKeyPattern } from "../streams/key-pattern.ts";
import { hostPort } from "../shared/host-port.ts";
import type { ListenAddress } from "./config.ts";

/** A value of the wrong shape. The message reads `expected ..., got ...`, without a location. */
export class ValueError extends Error {
  override readonly name = "ValueError";
}

/** How a value is quoted back to the operator: strings quoted, collections named. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/** "a, b or c" */
export function listWords(words: readonly string[]): string {
  return words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}`;
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
const DECIMAL = /^\d+(?:\.\d+)?$/;

/**
 * Milliseconds, rounded to whole ones, from "250ms", "5s", "2m", "1h", Go-style sums such as "1m30s", or a
 * bare number of seconds (90, 0.5, "90"). Negative durations are not a thing.
 */
export function parseDuration(value: unknown): number {
  let ms: number | undefined;
  if (typeof value === "number") {
    if (Number.isFinite(value) && value >= 0) ms = value * 1_000;
  } else if (typeof value === "string") {
    const text = value.trim();
    if (DECIMAL.test(text)) ms = Number(text) * 1_000;
    else if (text !== "") ms = sumOfParts(text);
  }
  if (ms !== undefined && Number.isSafeInteger(Math.round(ms))) return Math.round(ms);
  throw new ValueError(`expected a duration like "90s", got ${describeValue(value)}`);
}

function sumOfParts(text: string): number | undefined {
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const part = DURATION_PART.exec(text);
    if (part === null) return undefined;
    total += Number(part[1]) * DURATION_UNITS_MS[part[2]];
  }
  return total;
}

/** The shortest exact spelling of `ms` in one unit: "2m", "90s", "250ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/**
 * Sizes: IEC units are powers of 1024 (KiB, MiB, GiB), SI units powers of 1000 (KB or kB, MB, GB), exactly as
 * their names say; "B" and a bare number are bytes. Listed from largest so formatSize picks the shortest.
 */
const SIZE_UNITS: readonly (readonly [string, number])[] = [
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
  ["GB", 1000 ** 3],
  ["MB", 1000 ** 2],
  ["KB", 1000],
  ["kB", 1000],
  ["B", 1],
];
const SIZE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;

/** Bytes from 65536, "65536", "64KiB", "16MiB", "1GiB", "1.5MiB", "500KB"; the result must be whole bytes. */
export function parseSize(value: unknown): number {
  let bytes: number | undefined;
  if (typeof value === "number") {
    bytes = value;
  } else if (typeof value === "string") {
    const match = SIZE.exec(value.trim());
    const unit = match === null ? undefined : match[2] === "" ? 1 : SIZE_UNITS.find(([name]) => name === match[2])?.[1];
    if (match !== null && unit !== undefined) bytes = Number(match[1]) * unit;
  }
  if (bytes !== undefined) {
    // Decimal inputs like "0.1KB" land a hair off a whole number in binary floating point.
    const whole = Math.round(bytes);
    if (whole >= 0 && Number.isSafeInteger(whole) && Math.abs(bytes - whole) < 1e-6) return whole;
  }
  throw new ValueError(`expected a size like 65536, "64KiB" or "16MiB", got ${describeValue(value)}`);
}

/** "16MiB", "500KB", or the plain number of bytes when no unit divides it. */
export function formatSize(bytes: number): string {
  if (bytes === 0) return "0";
  const unit = SIZE_UNITS.find(([name, size]) => name !== "kB" && name !== "B" && bytes % size === 0);
  return unit === undefined ? String(bytes) : `${bytes / unit[1]}${unit[0]}`;
}

const LISTEN_EXAMPLE = `HOST:PORT like "0.0.0.0:1935"`;

/** "0.0.0.0:1935", "[::]:1935" (IPv6 in brackets, stored without), ":1935" (all IPv4 interfaces). */
export function parseListen(value: unknown): ListenAddress {
  const fail = (why = ""): never => {
    throw new ValueError(`expected ${LISTEN_EXAMPLE}${why}, got ${describeValue(value)}`);
  };
  if (typeof value !== "string") return fail();
  const text = value.trim();
  const colon = text.lastIndexOf(":");
  if (colon < 0) return fail();
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (host.startsWith("[") && host.endsWith("]")) {
    host = host.slice(1, -1);
    if (!host.includes(":")) return fail(" (brackets are for IPv6 addresses)");
  } else if (host.includes(":")) {
    return fail(` (write IPv6 addresses in brackets, like "[::]:1935")`);
  } else if (host === "") {
    host = "0.0.0.0";
  }
  if (!/^[A-Za-z0-9._%:-]+$/.test(host)) return fail();
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) return fail(" (port 0..65535)");
  return { host, port: Number(portText) };
}

export function formatListen(address: ListenAddress): string {
  return hostPort(address.host, address.port);
}

/** A URL as an error may quote it: its query and user:password may hold secrets. */
function shownUrl(value: string): string {
  return JSON.stringify(value.replace(/\?.*$/s, "?…").replace(/\/\/[^/]*@/, "//…@"));
}

const RELAY_URL_EXAMPLE = `an rtmp:// or rtmps:// URL with a host and an app, like "rtmp://example.com/live"`;

/**
 * A relay destination, returned as written: rtmp:// or rtmps://, a host, and at least an app in the path.
 * "{app}" and "{name}" may stand in the path or query; any other "{" or "}" is a typo'd placeholder.
 */
export function parseRelayUrl(value: unknown): string {
  if (typeof value !== "string") throw new ValueError(`expected ${RELAY_URL_EXAMPLE}, got ${describeValue(value)}`);
  // A query or user:password may hold the destination's key or login: never quote those back.
  const shown = shownUrl(value);
  const fail = (why: string): never => {
    throw new ValueError(`expected ${RELAY_URL_EXAMPLE}${why}, got ${shown}`);
  };
  const unknownPlaceholder = /[{}]/.test(value.replaceAll("{app}", "").replaceAll("{name}", ""));
  if (unknownPlaceholder) return fail(" (placeholders are {app} and {name})");
  const url = URL.parse(value.replaceAll("{app}", "app").replaceAll("{name}", "name"));
  if (url === null || !/^rtmps?:$/i.test(url.protocol) || url.hostname === "") return fail("");
  if (url.pathname.split("/").every((segment) => segment === "")) return fail(" (the path needs at least the app)");
  return value;
}

const REDIS_URL_EXAMPLE = `"" or a redis:// or rediss:// URL like "redis://127.0.0.1:6379/0"`;

/** cluster.redis: "" (no registry), or redis:// / rediss:// with a host and at most a database number for a path. */
export function parseRedisUrl(value: unknown): string {
  if (value === "") return "";
  if (typeof value !== "string") throw new ValueError(`expected ${REDIS_URL_EXAMPLE}, got ${describeValue(value)}`);
  const url = URL.parse(value);
  const valid = url !== null && /^rediss?:$/i.test(url.protocol) && url.hostname !== "" && /^\/?(\d+)?$/.test(url.pathname);
  if (valid) return value;
  throw new ValueError(`expected ${REDIS_URL_EXAMPLE}, got ${shownUrl(value)}`);
}

const RTMP_BASE_URL_EXAMPLE = `an rtmp:// or rtmps:// base URL like "rtmp://10.0.0.2:1935"`;

/**
 * A node's RTMP base URL (cluster.advertise, cluster.origins): rtmp:// or rtmps://, a host, an optional port,
 * nothing else (the stream's "/app/name" is added to it). Returned without a trailing "/".
 */
export function parseRtmpBaseUrl(value: unknown): string {
  if (typeof value !== "string") throw new ValueError(`expected ${RTMP_BASE_URL_EXAMPLE}, got ${describeValue(value)}`);
  const url = URL.parse(value);
  const base = url !== null && /^rtmps?:$/i.test(url.protocol) && url.hostname !== "" && url.username === "" && url.password === "";
  if (base && url.pathname.replace(/^\/$/, "") === "" && url.search === "" && url.hash === "") return value.replace(/\/$/, "");
  throw new ValueError(`expected ${RTMP_BASE_URL_EXAMPLE} (no path, query or user), got ${shownUrl(value)}`);
}

/**
 * workers: 0 (one per core) or a count. More than one process shares a port through SO_REUSEPORT, which
 * spreads connections only on Linux: elsewhere a count above one is refused.
 */
export function workersParser(platform: string, cores: number): (value: unknown) => number {
  const count = integerParser(0, 1024);
  return (value) => {
    const n = count(value);
    if (platform !== "linux" && (n === 0 ? cores : n) > 1) {
      throw new ValueError(`expected 1 on ${platform} (more workers share a port only on Linux), got ${describeValue(value)}`);
    }
    return n;
  };
}

export function parseHttpUrl(value: unknown): string {
  const url = typeof value === "string" ? URL.parse(value) : null;
  if (url !== null && /^https?:$/i.test(url.protocol) && url.hostname !== "") return value as string;
  throw new ValueError(`expected an http:// or https:// URL, got ${describeValue(value)}`);
}

/** Only YAML's true and false: "yes" and "on" are strings in YAML 1.2, and guessing would hide typos. */
export function parseBoolean(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  throw new ValueError(`expected true or false, got ${describeValue(value)}`);
}

export function parseString(value: unknown): string {
  if (typeof value === "string") return value;
  throw new ValueError(`expected a string, got ${describeValue(value)}`);
}

/** A secret (token, HMAC key): a string, and a problem never quotes it back, since it may be one mistyped. */
export function parseSecret(value: unknown): string {
  if (typeof value === "string") return value;
  const got = typeof value === "number" ? "a number" : describeValue(value);
  throw new ValueError(`expected a string (quote secrets that look like numbers), got ${got}`);
}

/** A stream key "app/name" as the server builds it: no "?query" (where clients put tokens), no globs. */
export function parseStreamKey(value: unknown): string {
  if (typeof value === "string" && isStreamKey(value)) return value;
  throw new ValueError(`expected a stream key "app/name" like "live/test", got ${describeValue(value)}`);
}

/** A stream key, or a glob where "*" matches anything ("live/*"), as keyMatcher reads them. */
export function parseKeyPattern(value: unknown): string {
  if (typeof value === "string" && validKeyPattern(value)) return value;
  throw new ValueError(`expected a stream key or a glob like "live/main" or "live/*", got ${describeValue(value)}`);
}

/** A parser for whole numbers in [min, max]. */
export function integerParser(min: number, max = Number.MAX_SAFE_INTEGER): (value: unknown) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  return (value) => {
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max) return value;
    throw new ValueError(`expected an integer ${range}, got ${describeValue(value)}`);
  };
}

/** A parser for one of `choices`, suggesting the closest when the value looks like a typo of one. */
export function enumParser<T extends string>(choices: readonly T[]): (value: unknown) => T {
  return (value) => {
    if (typeof value === "string" && (choices as readonly string[]).includes(value)) return value as T;
    const near = typeof value === "string" ? suggest(value, choices) : undefined;
    const hint = near === undefined ? "" : ` (did you mean ${JSON.stringify(near)}?)`;
    const shown = choices.map((c) => (/^\w+$/.test(c) ? c : JSON.stringify(c)));
    throw new ValueError(`expected ${listWords(shown)}, got ${describeValue(value)}${hint}`);
  };
}

/** The candidate `word` is most likely a typo of, if any is close enough to be worth suggesting. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined || lower.length < 3) return best;
  // "warning" for "warn", "pub" for "publish": too far apart by edits, plainly meant all the same.
  return candidates.find((c) => {
    const candidate = c.toLowerCase();
    return candidate.length >= 3 && (lower.startsWith(candidate) || candidate.startsWith(lower));
  });
}

/** Optimal-string-alignment distance: Levenshtein where a swap of two neighbours counts as one edit. */
function editDistance(a: string, b: string): number {
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j], prev2[j - 2] + 1);
      }
    }
    prev2 = prev;
    prev = row;
  }
  return prev[b.length];
}
