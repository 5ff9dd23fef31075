/**
 * Where a recording goes: `{app}_{name}_{YYYYMMDD_HHMMSS}.flv` (or `.mp4`; UTC) inside recording.dir, with every
 * character outside [A-Za-z0-9._-] replaced by "_", so no stream key can name a path outside the directory.
 * The file is created exclusively ("wx"): an existing file gets `_1`, `_2`, ... and is never overwritten.
 */
import { mkdir, open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

/**
 * Longest `{app}_{name}` part of a file name. With the time, a collision suffix and ".flv" or ".mp4" the name stays
 * under 240 bytes, inside every common file system's 255-byte limit. A longer one is cut and ends in a hash
 * of the whole key, so two long keys sharing a prefix still get names that tell them apart.
 */
export const MAX_STEM_LENGTH = 200;
/** Collision suffixes tried (`_1` ... `_999`) before the recording is given up. */
export const MAX_NAME_ATTEMPTS = 1000;

const HASH_CHARS = 8;

/** Every character outside [A-Za-z0-9._-] (a whole code point, so an emoji is one "_") becomes "_". */
export function sanitize(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/gu, "_");
}

/** `YYYYMMDD_HHMMSS` in UTC. */
export function utcStamp(date: Date): string {
  const p = (n: number, width = 2) => String(n).padStart(width, "0");
  return (
    `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}_` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`
  );
}

/** `{app}_{name}_{YYYYMMDD_HHMMSS}`, sanitized and capped: the file name without collision suffix or extension. */
export function recordingStem(app: string, name: string, date: Date): string {
  let stem = sanitize(`${app}_${name}`);
  if (stem.length > MAX_STEM_LENGTH) {
    const hash = new Bun.CryptoHasher("sha256").update(`${app}/${name}`).digest("hex").slice(0, HASH_CHARS);
    stem = `${stem.slice(0, MAX_STEM_LENGTH - HASH_CHARS - 1)}_${hash}`;
  }
  return `${stem}_${utcStamp(date)}`;
}

export interface CreatedFile {
  path: string;
  handle: FileHandle;
}

/** Creates `dir` if needed, then the first of `stem.flv`, `stem_1.flv`, ... (`extension` "flv") that does not exist yet. */
export async function createRecordingFile(dir: string, stem: string, extension: string): Promise<CreatedFile> {
  await mkdir(dir, { recursive: true });
  for (let attempt = 0; attempt < MAX_NAME_ATTEMPTS; attempt++) {
    const path = join(dir, attempt === 0 ? `${stem}.${extension}` : `${stem}_${attempt}.${extension}`);
    try {
      return { path, handle: await open(path, "wx") };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  throw new Error(`${join(dir, stem)}.${extension} and ${MAX_NAME_ATTEMPTS - 1} numbered variants all exist`);
}
