/**
 * The README's first screen gives two command lines for a fresh machine; CI runs the second as written.
 */
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] ?? "").trim());
}

describe("README", () => {
  const blocks = shellBlocks(readFileSync(`${ROOT}/README.md`, "utf8"));

  it("opens with one line that installs, builds and runs, and one that installs the test tools and runs the suite", () => {
    expect(blocks[0]).toBe("npm install -g --allow-scripts=bun bun@1.4.5 && bun install && bun run build && ./dist/rtmp-server");
    expect(blocks[1]).toMatch(/^apt-get update && apt-get install -y .+ && npm install -g --allow-scripts=bun bun@1\.4\.5 && bun install && bun test --parallel=2$/);
  });

  it("is what .ci/run runs", () => {
    const ci = readFileSync(`${ROOT}/.ci/run`, "utf8");
    expect(ci).toContain(`(${blocks[1]}) 2>&1 | tee "$log"`);
  });

  it("installs the Bun the suite runs on", () => {
    for (const line of blocks.slice(0, 2)) expect(line).toContain(`bun@${Bun.version} `);
  });
});
