/**
 * Operator mistakes in the YAML file or on the command line: exit 2 with `file:line: key.path: message`,
 * before anything listens; --check-config validates and prints the effective config.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { scratchDir } from "../helpers/media.ts";
import { run } from "../../support/children.ts";
import { within } from "../../support/wait.ts";

const ROOT = resolve(import.meta.dir, "../..");
const CLI = join(ROOT, "src/cli.ts");

describe("configuration errors", () => {
  const scratch = scratchDir("config-errors");
  afterAll(() => scratch.remove());

  function configFile(name: string, text: string): string {
    const path = join(scratch.path, name);
    writeFileSync(path, text);
    return path;
  }

  /** `bun src/cli.ts ...args`; a config error must end it at once, so a bounded wait is plenty. */
  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return within(run([process.execPath, CLI, ...args], { cwd: scratch.path }), 15_000, `rtmp-server ${args.join(" ")} to exit`);
  }

  it("exits 2 naming file, line and key for a bad duration", async () => {
    const path = configFile("bad-duration.yaml", 'listen: "127.0.0.1:0"\ntimeouts:\n  read: soon\n');
    const { code, stderr } = await cli("--config", path);
    expect(code, stderr).toBe(2);
    expect(stderr).toContain(`${path}:3: timeouts.read`);
    expect(stderr).toContain('"soon"');
  });

  it("exits 2 for the contract's example, `timeouts:` then `read: soon` on line 2", async () => {
    const path = configFile("line-two.yaml", "timeouts:\n  read: soon\n");
    const { code, stderr } = await cli("--config", path);
    expect(code, stderr).toBe(2);
    expect(stderr).toContain(":2: timeouts.read");
  });

  it("exits 2 naming an unknown top-level key and its line", async () => {
    const path = configFile("unknown.yaml", 'listen: "127.0.0.1:0"\nbogus_key: 1\n');
    const { code, stderr } = await cli("--config", path);
    expect(code, stderr).toBe(2);
    expect(stderr).toContain(`${path}:2: bogus_key`);
  });

  it("exits 2 naming an unknown nested key by its full path", async () => {
    const path = configFile("nested.yaml", "streams:\n  publish_conflict: reject\n  gop_cahce: true\n");
    const { code, stderr } = await cli("--config", path);
    expect(code, stderr).toBe(2);
    expect(stderr).toContain(`${path}:3: streams.gop_cahce`);
  });

  it("exits 2 for a value outside the allowed set", async () => {
    const path = configFile("enum.yaml", "streams:\n  publish_conflict: kick\n");
    const { code, stderr } = await cli("--config", path);
    expect(code, stderr).toBe(2);
    expect(stderr).toContain(`${path}:2: streams.publish_conflict`);
  });

  it("exits 2 for invalid YAML, with its line", async () => {
    const path = configFile("broken.yaml", 'listen: "127.0.0.1:0"\nstreams: [unclosed\n');
    const { code, stderr } = await cli("--config", path);
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+: `));
  });

  it("exits 2 naming a config file that does not exist", async () => {
    const path = join(scratch.path, "missing.yaml");
    const { code, stderr } = await cli("--config", path);
    expect(code, stderr).toBe(2);
    expect(stderr).toContain(path);
  });

  it("exits 2 for bad or unknown flags, naming the flag", async () => {
    const [badListen, unknown] = await Promise.all([cli("--listen", "nowhere"), cli("--bogus")]);
    expect(badListen.code, badListen.stderr).toBe(2);
    expect(badListen.stderr).toContain("--listen");
    expect(unknown.code, unknown.stderr).toBe(2);
    expect(unknown.stderr).toContain("--bogus");
  });

  it("--check-config exits 0 on a valid file and prints the effective config, flags applied", async () => {
    const path = configFile(
      "valid.yaml",
      'listen: "127.0.0.1:19350"\nstreams:\n  publish_conflict: replace\ntimeouts:\n  write: 2s\n',
    );
    const { code, stdout, stderr } = await cli("--config", path, "--log-level", "warn", "--check-config");
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("publish_conflict: replace");
    expect(stdout).toMatch(/level: warn/);
    expect(stdout).toMatch(/write: "?2s"?/);
  });

  it("--check-config exits 2 on an invalid file", async () => {
    const path = configFile("check-bad.yaml", "timeouts:\n  read: soon\n");
    const { code, stderr } = await cli("--config", path, "--check-config");
    expect(code, stderr).toBe(2);
    expect(stderr).toContain(":2: timeouts.read");
  });
});
