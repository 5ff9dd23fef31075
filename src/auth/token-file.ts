/**
 * The token file of auth.mode file: one JSON object of "app/name": "token" pairs. Reading it fails with a
 * message that says exactly what is wrong and where, and never quotes a token: the config check at start
 * and the re-reads at run time both print it.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { isStreamKey } from "../streams/key-pattern.ts";
import { jsonSyntaxError } from "./json-syntax.ts";

/** Larger files are refused: ten thousand streams with long tokens fit many times over. */
export const MAX_TOKEN_FILE_BYTES = 1024 * 1024;

/** The file's "app/name" -> token map. Throws an Error whose message starts with `path`. */
export function readTokenFile(path: string): Record<string, string> {
  return parseTokenFile(path, readTokenFileText(path));
}

/** The file's text, read whole (at most MAX_TOKEN_FILE_BYTES) and decoded as UTF-8. */
export function readTokenFileText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new Error(`${path}: ${describeFsError(error)}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = readAll(path, fd);
  } finally {
    closeSync(fd);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${path}: not UTF-8 text`);
  }
}

/** Validates a token file's text; `path` only names the file in errors. */
export function parseTokenFile(path: string, text: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never JSON.parse's own message: it quotes the text it stopped at, which may be a token.
    throw new Error(`${path}: not JSON: ${jsonSyntaxError(text) ?? "unparsable"}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${path}: expected a JSON object of "app/name": "token" pairs, got ${describeJson(parsed)}`);
  }
  const tokens = parsed as Record<string, unknown>;
  for (const [key, token] of Object.entries(tokens)) {
    if (!isStreamKey(key)) {
      throw new Error(`${path}: expected a stream key "app/name" like "live/test", got ${JSON.stringify(key)}`);
    }
    if (typeof token !== "string" || token === "") {
      throw new Error(`${path}: ${JSON.stringify(key)}: expected a non-empty token string, got ${describeJson(token)}`);
    }
  }
  return tokens as Record<string, string>;
}

function readAll(path: string, fd: number): Uint8Array {
  const stat = fstatSync(fd);
  if (stat.isDirectory()) throw new Error(`${path}: is a directory`);
  if (!stat.isFile()) throw new Error(`${path}: not a regular file`);
  if (stat.size > MAX_TOKEN_FILE_BYTES) {
    throw new Error(`${path}: ${stat.size} bytes, more than the ${MAX_TOKEN_FILE_BYTES} a token file may have`);
  }
  // One byte of room past the size shows a file that grew while being read, which the bound must not miss.
  const buffer = new Uint8Array(stat.size + 1);
  let length = 0;
  while (length < buffer.length) {
    const n = readSync(fd, buffer, length, buffer.length - length, null);
    if (n === 0) break;
    length += n;
  }
  if (length > stat.size) throw new Error(`${path}: changed while being read`);
  return buffer.subarray(0, length);
}

function describeFsError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return "no such file";
    case "ENOTDIR":
      return "no such file (a part of the path is not a directory)";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ELOOP":
      return "too many levels of symbolic links";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/** What a JSON value is, never what it holds (it may be a token written wrong). */
function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value === "") return "an empty string";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
