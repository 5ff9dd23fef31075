/**
 * The layer rule the README states: a lower layer never imports a higher one. Each file's relative imports are
 * read as text and checked against the order below; a front-end may not import another front-end.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** Lowest first. Folders on one rank may not import each other. */
const RANKS: string[][] = [
  ["logger.ts"],
  ["protocol"],
  ["media"],
  ["events"],
  ["shared"],
  ["streams"],
  ["rtmp", "flv", "hls"],
  ["record"],
  ["relay"],
  ["cluster"],
  ["auth"],
  ["hooks"],
  ["http"],
  ["config"],
  ["server.ts"],
  ["cli.ts"],
];

function room(file: string): string {
  return relative(SRC, file).split("/")[0] ?? "";
}

function rank(roomName: string): number {
  return RANKS.findIndex((names) => names.includes(roomName));
}

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (path.endsWith(".ts")) out.push(path);
  }
  return out;
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => resolve(dirname(file), m[1] ?? ""));
}

describe("layers", () => {
  it("places every file of src/ in a ranked room", () => {
    const unranked = sources(SRC)
      .map(room)
      .filter((r) => rank(r) < 0);
    expect([...new Set(unranked)]).toEqual([]);
  });

  it("has no import from a lower room to a higher one, nor between front-ends", () => {
    const violations: string[] = [];
    for (const file of sources(SRC)) {
      const from = room(file);
      for (const target of relativeImports(file)) {
        const to = room(target);
        if (to === from) continue;
        if (rank(to) >= rank(from)) violations.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
