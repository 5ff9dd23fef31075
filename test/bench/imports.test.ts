/**
 * The benchmark is a program of its own: it may use src/ and support/ (what tests and benchmarks share), never
 * test/. Each bench/ file's relative imports are read as text.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const BENCH = join(ROOT, "bench");

describe("bench/", () => {
  it("imports nothing from test/", () => {
    const intoTests = readdirSync(BENCH, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts"))
      .flatMap((file) => {
        const path = join(BENCH, file);
        const specs = [...readFileSync(path, "utf8").matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)];
        return specs
          .map((m) => relative(ROOT, resolve(dirname(path), m[1] ?? "")))
          .filter((target) => target.startsWith("test/"))
          .map((target) => `bench/${file} -> ${target}`);
      });
    expect(intoTests).toEqual([]);
  });
});
