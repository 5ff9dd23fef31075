import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, DEFAULT_CONFIG } from "../../src/config/config.ts";
import { type Flags, parseFlags, resolveConfig, usageText } from "../../src/config/flags.ts";
import { formatConfig, parseConfigText } from "../../src/config/load.ts";

function flagProblems(argv: string[]): string[] {
  try {
    parseFlags(argv);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected a ConfigError");
}

const NO_FLAGS: Flags = { record: false, checkConfig: false, help: false, version: false };

describe("parseFlags", () => {
  it("reads no arguments as no flags", () => {
    expect(parseFlags([])).toEqual(NO_FLAGS);
  });

  it("reads every flag, in both --flag value and --flag=value forms", () => {
    const expected: Flags = {
      configPath: "conf/server.yaml",
      listen: { host: "127.0.0.1", port: 19350 },
      http: { host: "127.0.0.1", port: 8080 },
      logLevel: "debug",
      record: true,
      recordDir: "/tmp/rec",
      checkConfig: true,
      help: false,
      version: false,
    };
    const spaced = ["--config", "conf/server.yaml", "--listen", "127.0.0.1:19350", "--http", "127.0.0.1:8080", "--log-level", "debug"];
    const rest = ["--record", "--record-dir", "/tmp/rec", "--check-config"];
    expect(parseFlags([...spaced, ...rest])).toEqual(expected);
    const joined = ["--config=conf/server.yaml", "--listen=127.0.0.1:19350", "--http=127.0.0.1:8080", "--log-level=debug"];
    expect(parseFlags([...joined, "--record", "--record-dir=/tmp/rec", "--check-config"])).toEqual(expected);
  });

  it("reads --help, -h and --version", () => {
    expect(parseFlags(["--help"]).help).toBe(true);
    expect(parseFlags(["-h"]).help).toBe(true);
    expect(parseFlags(["--version"]).version).toBe(true);
  });

  it("lets a repeated flag's last value win", () => {
    expect(parseFlags(["--log-level", "info", "--log-level=warn"]).logLevel).toBe("warn");
  });

  it("keeps an = inside the value", () => {
    expect(parseFlags(["--config=a=b.yaml"]).configPath).toBe("a=b.yaml");
  });

  it("accepts IPv6 and all-interface listen addresses", () => {
    expect(parseFlags(["--listen", "[::]:1935"]).listen).toEqual({ host: "::", port: 1935 });
    expect(parseFlags(["--listen", ":1936"]).listen).toEqual({ host: "0.0.0.0", port: 1936 });
  });

  it("rejects an unknown flag, suggesting the one meant", () => {
    expect(flagProblems(["--lisen", "x:1"])).toEqual(["--lisen: unknown flag (did you mean --listen?)"]);
    expect(flagProblems(["--frobnicate"])).toEqual(["--frobnicate: unknown flag"]);
  });

  it("rejects a missing value, at the end or before another flag", () => {
    expect(flagProblems(["--config"])).toEqual(["--config: needs a value: --config FILE"]);
    expect(flagProblems(["--config", "--record"])).toEqual(["--config: needs a value: --config FILE"]);
  });

  it("rejects bad values with what was expected", () => {
    expect(flagProblems(["--log-level", "verbose"])).toEqual([
      '--log-level: expected debug, info, warn or error, got "verbose"',
    ]);
    expect(flagProblems(["--listen", "1935"])).toEqual(['--listen: expected HOST:PORT like "0.0.0.0:1935", got "1935"']);
    expect(flagProblems(["--record-dir="])).toEqual(['--record-dir: expected a directory path, got ""']);
    expect(flagProblems(["--http", "8080"])).toEqual(['--http: expected HOST:PORT like "0.0.0.0:1935", got "8080"']);
  });

  it("reads --http \"\" as HTTP off", () => {
    expect(parseFlags(["--http", ""]).http).toBeNull();
    expect(parseFlags(["--http="]).http).toBeNull();
  });

  it("points a misplaced sign command to the front", () => {
    expect(flagProblems(["--config", "c.yaml", "sign", "live/test"])).toEqual([
      "sign: the sign command comes first: rtmp-server sign KEY --expires DURATION --config FILE",
      "live/test: unexpected argument (rtmp-server takes only flags; see --help)",
    ]);
  });

  it("rejects a value given to a switch, and stray arguments", () => {
    expect(flagProblems(["--record=yes"])).toEqual(['--record: takes no value, got "yes"']);
    expect(flagProblems(["config.yaml"])).toEqual([
      "config.yaml: unexpected argument (rtmp-server takes only flags; see --help)",
    ]);
  });

  it("lists every problem at once", () => {
    expect(flagProblems(["--log-level", "loud", "--bogus", "--listen"])).toHaveLength(3);
  });
});

describe("resolveConfig", () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "rtmp-flags-"));
    writeFileSync(
      join(dir, "server.yaml"),
      'listen: "127.0.0.1:2000"\nlog:\n  level: warn\n  format: text\nrecording:\n  dir: from-file\n' +
        'http:\n  listen: 127.0.0.1:8080\n  api_token: t\n',
    );
    writeFileSync(join(dir, "segments.yaml"), 'recording:\n  segment: 10m\n  streams: ["live/*"]\n');
    writeFileSync(join(dir, "bad.yaml"), "timeouts:\n  read: soon\n");
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs on the built-in defaults without --config", () => {
    const config = resolveConfig(NO_FLAGS, dir);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 1935 });
    expect(Object.isFrozen(config.listen)).toBe(false);
  });

  it("loads the file relative to the working directory", () => {
    const config = resolveConfig({ ...NO_FLAGS, configPath: "server.yaml" }, dir);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 2000 });
    expect(config.log).toEqual({ level: "warn", format: "text", statsIntervalMs: 30_000 });
    expect(config.recording).toEqual({ ...DEFAULT_CONFIG.recording, dir: "from-file" });
    expect(config.http.listen).toEqual({ host: "127.0.0.1", port: 8080 });
  });

  it("lets flags override the file", () => {
    const flags = parseFlags(["--config", "server.yaml", "--listen", ":3000", "--log-level", "error", "--record"]);
    const config = resolveConfig(flags, dir);
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 3000 });
    expect(config.log).toEqual({ level: "error", format: "text", statsIntervalMs: 30_000 });
    expect(config.recording).toEqual({ ...DEFAULT_CONFIG.recording, enabled: true, dir: "from-file" });
  });

  it("--record-dir sets only the directory; --record turns recording on", () => {
    expect(resolveConfig(parseFlags(["--record-dir", "elsewhere"]), dir).recording).toEqual({
      ...DEFAULT_CONFIG.recording,
      dir: "elsewhere",
    });
    expect(resolveConfig(parseFlags(["--record"]), dir).recording).toEqual({ ...DEFAULT_CONFIG.recording, enabled: true });
  });

  it("keeps the file's other recording keys under --record and --record-dir", () => {
    const config = resolveConfig(parseFlags(["--config", "segments.yaml", "--record", "--record-dir", "d"]), dir);
    expect(config.recording).toEqual({ enabled: true, dir: "d", segmentMs: 600_000, streams: ["live/*"], format: "flv" });
  });

  it("--http sets http.listen over the file's, and --http \"\" turns it off", () => {
    expect(resolveConfig(parseFlags(["--http", "127.0.0.1:9090"]), dir).http).toEqual({
      ...DEFAULT_CONFIG.http,
      listen: { host: "127.0.0.1", port: 9090 },
    });
    const fromFile = resolveConfig(parseFlags(["--config", "server.yaml"]), dir).http;
    expect(resolveConfig(parseFlags(["--config", "server.yaml", "--http", "[::1]:81"]), dir).http).toEqual({
      ...fromFile,
      listen: { host: "::1", port: 81 },
    });
    expect(resolveConfig(parseFlags(["--config", "server.yaml", "--http="]), dir).http).toEqual({ ...fromFile, listen: null });
  });

  it("names the file as typed in config errors", () => {
    expect(() => resolveConfig({ ...NO_FLAGS, configPath: "bad.yaml" }, dir)).toThrow(
      'bad.yaml:2: timeouts.read: expected a duration like "90s", got "soon"',
    );
    expect(() => resolveConfig({ ...NO_FLAGS, configPath: "missing.yaml" }, dir)).toThrow(
      "missing.yaml: cannot read the config file: no such file",
    );
  });

  it("prints an effective config (--check-config) that reads back as the same config", () => {
    const flags = parseFlags(["--config", "server.yaml", "--listen", "[::1]:4000", "--record"]);
    const config = resolveConfig(flags, dir);
    const printed = formatConfig(config);
    expect(printed).toContain('listen: "[::1]:4000"\n');
    expect(parseConfigText(printed, "effective.yaml")).toEqual(config);
  });
});

describe("usageText", () => {
  it("shows the synopsis and every flag", () => {
    const text = usageText();
    expect(text).toContain(
      "rtmp-server [--config FILE] [--listen HOST:PORT] [--http HOST:PORT] [--log-level LEVEL] [--record] [--record-dir DIR] [--check-config]\n",
    );
    expect(text).toContain("rtmp-server sign KEY --expires DURATION --config FILE\n");
    expect(text).toContain("rtmp-server --version | --help");
    const flags = ["--config FILE", "--listen HOST:PORT", "--http HOST:PORT", "--log-level LEVEL", "--record-dir DIR"];
    for (const flag of [...flags, "--check-config"]) {
      expect(text).toContain(flag);
    }
  });
});
