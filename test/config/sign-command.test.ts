/**
 * `rtmp-server sign KEY --expires DURATION --config FILE`: the printed query must verify with an HMAC
 * computed here, independently, over `/{app}/{name}-{EXPIRES}`; every mistake exits 2 with a clear message.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../../src/config/config.ts";
import { signCommand } from "../../src/config/sign-command.ts";
import { scratchDir } from "../helpers/media.ts";
import { run } from "../../support/children.ts";
import { within } from "../../support/wait.ts";

const CLI = resolve(import.meta.dir, "../../src/cli.ts");
const SECRET = "correct horse battery staple";
const scratch = scratchDir("sign");
afterAll(() => scratch.remove());

function configFile(name: string, text: string): string {
  writeFileSync(join(scratch.path, name), text);
  return name;
}

const SIGNED = configFile("signed.yaml", `auth:\n  mode: sign\n  secret: "${SECRET}"\n`);

function hmacHex(message: string, secret = SECRET): string {
  return createHmac("sha256", secret).update(message).digest("hex");
}

/** `bun src/cli.ts sign ...` in the scratch directory; it never starts a server, so it ends at once. */
async function sign(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return within(run([process.execPath, CLI, "sign", ...args], { cwd: scratch.path }), 15_000, `rtmp-server sign ${args.join(" ")} to exit`);
}

function problemsOf(argv: string[]): string[] {
  try {
    signCommand(argv, scratch.path, 0);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("rtmp-server sign", () => {
  it("prints a query that verifies with an independent HMAC and expires DURATION from now", async () => {
    const before = Date.now();
    const { code, stdout, stderr } = await sign("live/test", "--expires", "1h", "--config", SIGNED);
    const after = Date.now();
    expect(code, stderr).toBe(0);
    const match = /^\?sign=(\d+)-([0-9a-f]{64})\n$/.exec(stdout);
    expect(match, stdout).not.toBeNull();
    const expires = Number(match![1]);
    expect(expires).toBeGreaterThanOrEqual(Math.floor((before + 3_600_000) / 1_000));
    expect(expires).toBeLessThanOrEqual(Math.floor((after + 3_600_000) / 1_000));
    expect(match![2]).toBe(hmacHex(`/live/test-${expires}`));
  });

  it("takes its arguments in any order and in --flag=value form", async () => {
    const { code, stdout, stderr } = await sign(`--config=${SIGNED}`, "--expires=90m", "games/chess/board-1");
    expect(code, stderr).toBe(0);
    const [, expires, hex] = /^\?sign=(\d+)-([0-9a-f]{64})\n$/.exec(stdout) ?? [];
    expect(hex).toBe(hmacHex(`/games/chess/board-1-${expires}`));
  });

  it("exits 2 when the key is not app/name", async () => {
    for (const key of ["live", "live/test?token=x", "live/*"]) {
      const { code, stdout, stderr } = await sign(key, "--expires", "1h", "--config", SIGNED);
      expect(code, stderr).toBe(2);
      expect(stdout).toBe("");
      expect(stderr).toBe(`KEY: expected a stream key "app/name" like "live/test", got ${JSON.stringify(key)}\n`);
    }
  });

  it("exits 2 for a bad or missing duration", async () => {
    const soon = await sign("live/test", "--expires", "soon", "--config", SIGNED);
    expect(soon.code, soon.stderr).toBe(2);
    expect(soon.stderr).toBe('--expires: expected a duration like "90s", got "soon"\n');
    const none = await sign("live/test", "--config", SIGNED);
    expect(none.code, none.stderr).toBe(2);
    expect(none.stderr).toBe("--expires: required: how long the URL stays valid, like 1h\n");
  });

  it("exits 2 when the config has no auth.secret, naming the file", async () => {
    const unsigned = configFile("unsigned.yaml", "auth:\n  mode: none\n");
    const { code, stdout, stderr } = await sign("live/test", "--expires", "1h", "--config", unsigned);
    expect(code, stderr).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe("unsigned.yaml: auth.secret: is empty: it is the key that signs URLs\n");
  });

  it("exits 2 for a config file that is missing or invalid, as the server would", async () => {
    const missing = await sign("live/test", "--expires", "1h", "--config", "missing.yaml");
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toBe("missing.yaml: cannot read the config file: no such file\n");
    const invalid = configFile("invalid.yaml", "auth:\n  mode: sign\n  secret: s\n  secert: t\n");
    const bad = await sign("live/test", "--expires", "1h", "--config", invalid);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toBe("invalid.yaml:4: auth.secert: unknown key (did you mean secret?)\n");
  });
});

describe("signCommand", () => {
  it("signs the contract's example: live/test until 1767225600", () => {
    // 1 s after 1767225599.25 is 1767225600.25: EXPIRES counts whole seconds, so the URL ends at 1767225600.
    const query = signCommand(["live/test", "--expires", "1s", "--config", SIGNED], scratch.path, 1_767_225_599_250);
    expect(query).toBe(`?sign=1767225600-${hmacHex("/live/test-1767225600")}\n`);
  });

  it("lists every problem with its arguments at once", () => {
    expect(problemsOf(["live", "--expires", "0.5s", "--bogus", "x", "--confg", "c.yaml"])).toEqual([
      'KEY: expected a stream key "app/name" like "live/test", got "live"',
      '--expires: expected a duration of at least 1s, like "1h", got "0.5s"',
      "--bogus: unknown flag",
      "--confg: unknown flag (did you mean --config?)",
      "--config: required: the config file whose auth.secret signs the URL",
    ]);
    expect(problemsOf(["live/a", "live/b", "--expires", "1h", "--config", SIGNED])).toEqual([
      "live/b: unexpected argument: sign takes one stream key",
    ]);
    expect(problemsOf([])).toEqual([
      "KEY: needs the stream key: rtmp-server sign live/test --expires 1h --config FILE",
      "--expires: required: how long the URL stays valid, like 1h",
      "--config: required: the config file whose auth.secret signs the URL",
    ]);
  });

  it("prints the usage for --help", () => {
    expect(signCommand(["--help"], scratch.path, 0)).toContain("rtmp-server sign KEY --expires DURATION --config FILE\n");
  });
});
