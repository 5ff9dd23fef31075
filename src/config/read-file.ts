/**
 * Reading the small files an operator points the server at (the config, TLS certificates and keys) with a
 * size bound, so that a wrong path (a log file, /dev/zero, a FIFO) costs a clear error, not memory or a hang.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { ValueError } from "./parse.ts";

/** The whole file as UTF-8; throws ValueError saying why it cannot be read ("no such file", ...). */
export function readTextFile(path: string, maxBytes: number): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it changes nothing for regular files.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new ValueError(readFailure(error));
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new ValueError("it is a directory");
    if (!stat.isFile()) throw new ValueError("not a regular file");
    // One byte more than allowed tells a file that grew past the bound since fstat from one that fits.
    const buffer = new Uint8Array(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > maxBytes) throw new ValueError(`larger than ${maxBytes} bytes: not the file meant`);
    return new TextDecoder().decode(buffer.subarray(0, length));
  } catch (error) {
    throw error instanceof ValueError ? error : new ValueError(readFailure(error));
  } finally {
    closeSync(fd);
  }
}

function readFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EISDIR") return "it is a directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return error instanceof Error ? error.message : String(error);
}
