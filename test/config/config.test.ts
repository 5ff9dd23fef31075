import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isScalar, parseDocument, type YAMLMap } from "yaml";
import { type Config, ConfigError, DEFAULT_CONFIG } from "../../src/config/config.ts";
import { formatConfig, loadConfigFile, parseConfigText } from "../../src/config/load.ts";
import {
  formatDuration,
  formatListen,
  formatSize,
  parseDuration,
  parseListen,
  parseSize,
  suggest,
  ValueError,
} from "../../src/config/parse.ts";

const EXAMPLE = join(import.meta.dir, "../../config.example.yaml");

/** The messages of the ConfigError that parsing `text` throws, one per problem. */
function problemsOf(text: string, file = "config.yaml"): string[] {
  try {
    parseConfigText(text, file);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected a ConfigError");
}

function withDefaults(change: (config: Config) => void): Config {
  const config = structuredClone(DEFAULT_CONFIG);
  change(config);
  return config;
}

describe("parseDuration", () => {
  it.each([
    ["250ms", 250],
    ["5s", 5_000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1m30s", 90_000],
    ["1.5s", 1_500],
    [" 90s ", 90_000],
    ["90", 90_000],
    [90, 90_000],
    [0.25, 250],
    [0, 0],
  ] as const)("reads %p as %p ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(["soon", "", "5 s", "5S", "-5s", "5d", "s", "1.s", "ms5", "1h-5m"])("rejects %p", (input) => {
    expect(() => parseDuration(input)).toThrow(ValueError);
  });

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], [true], [null], [[]], [{}]])("rejects %p", (input) => {
    expect(() => parseDuration(input)).toThrow(ValueError);
  });

  it("says what it expected and what it got", () => {
    expect(() => parseDuration("soon")).toThrow('expected a duration like "90s", got "soon"');
  });

  it("formats to the largest exact unit", () => {
    expect([250, 5_000, 90_000, 120_000, 3_600_000, 5_400_000].map(formatDuration)).toEqual([
      "250ms",
      "5s",
      "90s",
      "2m",
      "1h",
      "90m",
    ]);
  });
});

describe("parseSize", () => {
  it.each([
    [65536, 65536],
    ["65536", 65536],
    ["64KiB", 65536],
    ["16MiB", 16 * 1024 * 1024],
    ["1GiB", 1024 ** 3],
    ["1.5MiB", 1_572_864],
    ["500KB", 500_000],
    ["500kB", 500_000],
    ["2MB", 2_000_000],
    ["1GB", 1_000_000_000],
    ["0.1KB", 100],
    ["64 KiB", 65536],
    ["12B", 12],
  ] as const)("reads %p as %p bytes", (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(["16M", "16mib", "lots", "", "-1", "1.5", "0.1B", "1e3", "KiB"])("rejects %p", (input) => {
    expect(() => parseSize(input)).toThrow(ValueError);
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 60, true, null])("rejects %p", (input) => {
    expect(() => parseSize(input)).toThrow(ValueError);
  });

  it("formats with the shortest exact unit, binary first", () => {
    expect([16 * 1024 * 1024, 65536, 1024 ** 3, 500_000, 4097].map(formatSize)).toEqual([
      "16MiB",
      "64KiB",
      "1GiB",
      "500KB",
      "4097",
    ]);
  });
});

describe("parseListen", () => {
  it.each([
    ["0.0.0.0:1935", "0.0.0.0", 1935],
    ["127.0.0.1:0", "127.0.0.1", 0],
    ["[::]:1935", "::", 1935],
    ["[::1]:19350", "::1", 19350],
    [":1935", "0.0.0.0", 1935],
    ["localhost:1935", "localhost", 1935],
  ] as const)("reads %p", (input, host, port) => {
    expect(parseListen(input)).toEqual({ host, port });
  });

  it.each(["1935", "0.0.0.0", "0.0.0.0:", "0.0.0.0:65536", "0.0.0.0:http", "::1:1935", "[1.2.3.4]:1935", "a b:1"])(
    "rejects %p",
    (input) => {
      expect(() => parseListen(input)).toThrow(ValueError);
    },
  );

  it("rejects a bare number and asks for HOST:PORT", () => {
    expect(() => parseListen(1935)).toThrow('expected HOST:PORT like "0.0.0.0:1935", got 1935');
  });

  it("asks for brackets around IPv6", () => {
    expect(() => parseListen("::1:1935")).toThrow("brackets");
  });

  it("formats IPv6 hosts back in brackets", () => {
    expect(formatListen({ host: "::", port: 1935 })).toBe("[::]:1935");
    expect(formatListen({ host: "0.0.0.0", port: 1935 })).toBe("0.0.0.0:1935");
  });
});

describe("suggest", () => {
  it("finds typos, transpositions and prefixes", () => {
    expect(suggest("gop_cahce", ["gop_cache", "gop_cache_max_bytes"])).toBe("gop_cache");
    expect(suggest("reed", ["handshake", "read", "write"])).toBe("read");
    expect(suggest("warning", ["debug", "info", "warn", "error"])).toBe("warn");
  });

  it("suggests nothing for unrelated words", () => {
    expect(suggest("banana", ["listen", "chunk_size"])).toBeUndefined();
  });
});

describe("parseConfigText", () => {
  it("gives the defaults for an empty file", () => {
    expect(parseConfigText("", "config.yaml")).toEqual(DEFAULT_CONFIG);
    expect(parseConfigText("# only a comment\n", "config.yaml")).toEqual(DEFAULT_CONFIG);
  });

  it("gives the defaults for keys left out, and for empty sections", () => {
    const config = parseConfigText("chunk_size: 128\nstreams:\ntimeouts:\n  read: 5m\n", "config.yaml");
    expect(config).toEqual(
      withDefaults((c) => {
        c.chunkSize = 128;
        c.timeouts.readMs = 300_000;
      }),
    );
  });

  it("returns a Config that does not share the frozen defaults", () => {
    const config = parseConfigText("", "config.yaml");
    config.relay.destinations.push("rtmp://example.com/live");
    config.listen.port = 1;
    expect(DEFAULT_CONFIG.relay.destinations).toEqual([]);
    expect(DEFAULT_CONFIG.listen.port).toBe(1935);
  });

  it("reads every key of the contract", () => {
    const text = `
listen: "[::]:19350"
chunk_size: 65536
max_connections: 5
max_message_size: 1MiB
streams:
  publish_conflict: replace
  gop_cache: false
  gop_cache_max_bytes: 64KiB
  max_subscriber_lag: 500ms
log:
  level: debug
  format: text
timeouts:
  handshake: 1s
  read: 2m
  write: 3
  publisher_idle: 1m30s
  shutdown: 0.5
recording:
  enabled: true
  dir: /var/lib/rtmp
relay:
  destinations:
    - rtmp://a.example.com/live
    - "rtmp://b.example.com:1936/{app}/{name}"
auth:
  mode: token
  actions: [publish]
  tokens: { "live/test": "secret", "live/other": "s2" }
  file: tokens.json
  callback_url: https://auth.example.com/check
  callback_timeout: 2s
hooks:
  timeout: 10s
  concurrency: 2
  stdio: json
  webhooks:
    - { event: publish_start, url: "http://127.0.0.1:8080/hook" }
    - event: "*"
      url: https://hooks.example.com/all
  scripts:
    - { event: record_stop, path: /usr/local/bin/on-stop.sh }
`;
    const expected: Config = {
      listen: { host: "::", port: 19350 },
      chunkSize: 65536,
      maxConnections: 5,
      maxMessageSize: 1024 * 1024,
      streams: { publishConflict: "replace", gopCache: false, gopCacheMaxBytes: 65536, maxSubscriberLagMs: 500 },
      log: { level: "debug", format: "text" },
      timeouts: { handshakeMs: 1_000, readMs: 120_000, writeMs: 3_000, publisherIdleMs: 90_000, shutdownMs: 500 },
      recording: { enabled: true, dir: "/var/lib/rtmp" },
      relay: { destinations: ["rtmp://a.example.com/live", "rtmp://b.example.com:1936/{app}/{name}"] },
      auth: {
        mode: "token",
        actions: ["publish"],
        tokens: { "live/test": "secret", "live/other": "s2" },
        file: "tokens.json",
        callbackUrl: "https://auth.example.com/check",
        callbackTimeoutMs: 2_000,
      },
      hooks: {
        timeoutMs: 10_000,
        concurrency: 2,
        stdio: "json",
        webhooks: [
          { event: "publish_start", url: "http://127.0.0.1:8080/hook" },
          { event: "*", url: "https://hooks.example.com/all" },
        ],
        scripts: [{ event: "record_stop", path: "/usr/local/bin/on-stop.sh" }],
      },
    };
    expect(parseConfigText(text, "config.yaml")).toEqual(expected);
  });

  it("reports a bad duration as file:line: key.path: message", () => {
    const text = ["listen: \"0.0.0.0:1935\"", "timeouts:", "  handshake: 5s", "  read: soon", ""].join("\n");
    expect(problemsOf(text)).toEqual(['config.yaml:4: timeouts.read: expected a duration like "90s", got "soon"']);
  });

  it("reports an unknown key with its line and a suggestion", () => {
    const text = "streams:\n  gop_cache: true\n  gop_cahce: false\n";
    expect(problemsOf(text)).toEqual(["config.yaml:3: streams.gop_cahce: unknown key (did you mean gop_cache?)"]);
  });

  it("reports unknown keys at every level", () => {
    const text = [
      "listen_address: x", // 1
      "log:", // 2
      "  level: info", // 3
      "  colour: true", // 4
      "hooks:", // 5
      "  webhooks:", // 6
      "    - event: publish_start", // 7
      "      url: http://h/x", // 8
      "      method: POST", // 9
      "",
    ].join("\n");
    expect(problemsOf(text)).toEqual([
      "config.yaml:1: listen_address: unknown key (did you mean listen?)",
      "config.yaml:4: log.colour: unknown key",
      "config.yaml:9: hooks.webhooks[0].method: unknown key",
    ]);
  });

  it("lists every problem at once, in line order", () => {
    const text = [
      "chunk_size: 100", // 1
      "max_connections: 0", // 2
      "max_message_size: 0", // 3
      "streams:", // 4
      "  publish_conflict: kick", // 5
      "  gop_cache: yes", // 6
      "log:", // 7
      "  level: verbose", // 8
      "timeouts:", // 9
      "  write: 0s", // 10
      "  shutdown: 1000h", // 11
      "",
    ].join("\n");
    expect(problemsOf(text)).toEqual([
      "config.yaml:1: chunk_size: expected an integer from 128 to 65536, got 100",
      "config.yaml:2: max_connections: expected an integer of at least 1, got 0",
      "config.yaml:3: max_message_size: expected a size greater than 0, got 0",
      'config.yaml:5: streams.publish_conflict: expected reject or replace, got "kick"',
      'config.yaml:6: streams.gop_cache: expected true or false, got "yes"',
      'config.yaml:8: log.level: expected debug, info, warn or error, got "verbose"',
      'config.yaml:10: timeouts.write: expected a duration greater than 0, got "0s"',
      'config.yaml:11: timeouts.shutdown: expected a duration of at most 596h, got "1000h"',
    ]);
  });

  it("reports wrong types: a mapping where a value belongs and a value where a mapping belongs", () => {
    const text = "chunk_size: { a: 1 }\nstreams: fast\nrelay:\n  destinations: rtmp://h/live\nlisten: 1935\n";
    expect(problemsOf(text)).toEqual([
      "config.yaml:1: chunk_size: expected an integer from 128 to 65536, got a mapping",
      'config.yaml:2: streams: expected a mapping of settings, got "fast"',
      'config.yaml:4: relay.destinations: expected a list, got "rtmp://h/live"',
      'config.yaml:5: listen: expected HOST:PORT like "0.0.0.0:1935", got 1935',
    ]);
  });

  it("reports a key with no value at its own line", () => {
    expect(problemsOf("timeouts:\n  read:\n  write: 5s\n")).toEqual([
      'config.yaml:2: timeouts.read: expected a duration like "90s", got nothing',
    ]);
  });

  it("reports list items at their own lines", () => {
    const text = [
      "relay:",
      "  destinations:",
      "    - rtmp://good.example.com/live",
      "    - http://bad.example.com/live",
      "    - rtmp://",
      "",
    ].join("\n");
    expect(problemsOf(text)).toEqual([
      'config.yaml:4: relay.destinations[1]: expected an rtmp:// URL with a host, like "rtmp://example.com/live", got "http://bad.example.com/live"',
      'config.yaml:5: relay.destinations[2]: expected an rtmp:// URL with a host, like "rtmp://example.com/live", got "rtmp://"',
    ]);
  });

  it("checks hook events, URLs and required hook keys", () => {
    const text = [
      "hooks:", // 1
      "  webhooks:", // 2
      "    - { event: publish_begin, url: http://h/x }", // 3
      "    - { event: publish_strat, url: ftp://h/x }", // 4
      "  scripts:", // 5
      "    - event: record_stop", // 6
      "    - just-a-string", // 7
      "",
    ].join("\n");
    const problems = problemsOf(text);
    expect(problems).toHaveLength(5);
    expect(problems[0]).toStartWith('config.yaml:3: hooks.webhooks[0].event: expected connection_accept, handshake_complete,');
    expect(problems[0]).toEndWith('record_stop or "*", got "publish_begin"');
    expect(problems[1]).toEndWith('got "publish_strat" (did you mean "publish_start"?)');
    expect(problems.slice(2)).toEqual([
      'config.yaml:4: hooks.webhooks[1].url: expected an http:// or https:// URL, got "ftp://h/x"',
      "config.yaml:6: hooks.scripts[0].path: required key is missing",
      'config.yaml:7: hooks.scripts[1]: expected a mapping, got "just-a-string"',
    ]);
  });

  it("reads hooks.stdio as off from off, false and \"off\"", () => {
    for (const value of ["off", "false", '"off"']) {
      expect(parseConfigText(`hooks:\n  stdio: ${value}\n`, "c.yaml").hooks.stdio).toBe("off");
    }
    expect(parseConfigText("hooks:\n  stdio: env\n", "c.yaml").hooks.stdio).toBe("env");
    expect(problemsOf("hooks:\n  stdio: true\n")).toEqual([
      "config.yaml:2: hooks.stdio: expected off, json or env, got true",
    ]);
  });

  describe("auth modes", () => {
    it("token mode needs tokens", () => {
      expect(problemsOf("auth:\n  mode: token\n")).toEqual([
        'config.yaml:2: auth.tokens: required when auth.mode is token: map each "app/name" to its token',
      ]);
    });

    it("file mode needs a file", () => {
      expect(problemsOf('auth:\n  mode: file\n  file: ""\n')).toEqual([
        "config.yaml:3: auth.file: required when auth.mode is file: the JSON file of tokens",
      ]);
      expect(parseConfigText("auth:\n  mode: file\n  file: tokens.json\n", "c.yaml").auth.file).toBe("tokens.json");
    });

    it("callback mode needs an http(s) callback_url", () => {
      expect(problemsOf("auth:\n  mode: callback\n")).toEqual([
        "config.yaml:2: auth.callback_url: required when auth.mode is callback: an http:// or https:// URL",
      ]);
      expect(problemsOf("auth:\n  mode: callback\n  callback_url: localhost:8080\n")).toEqual([
        'config.yaml:3: auth.callback_url: expected an http:// or https:// URL, got "localhost:8080"',
      ]);
    });

    it("checks token keys are stream keys and tokens are strings", () => {
      const text = ["auth:", "  mode: token", "  tokens:", '    test: "s"', "    live/a: 12345", '    live/b: "ok"', ""].join(
        "\n",
      );
      expect(problemsOf(text)).toEqual([
        'config.yaml:4: auth.tokens.test: expected a stream key "app/name" like "live/test", got "test"',
        "config.yaml:5: auth.tokens.live/a: expected a token (quote tokens that look like numbers), got 12345",
      ]);
      expect(problemsOf("auth:\n  mode: token\n  tokens:\n    test: s\n")).toEqual([
        'config.yaml:4: auth.tokens.test: expected a stream key "app/name" like "live/test", got "test"',
      ]);
    });

    it("checks actions and drops repeats", () => {
      expect(parseConfigText("auth:\n  actions: [play, play]\n", "c.yaml").auth.actions).toEqual(["play"]);
      expect(problemsOf("auth:\n  actions: [publish, view]\n")).toEqual([
        'config.yaml:2: auth.actions[1]: expected publish or play, got "view"',
      ]);
    });
  });

  it("reports YAML syntax errors with file and line", () => {
    const problems = problemsOf("streams:\n  gop_cache: true\n bad: [1, 2\n", "my.yaml");
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).toMatch(/^my\.yaml:\d+: invalid YAML: /);
  });

  it("reports duplicate keys as YAML errors on the second occurrence", () => {
    expect(problemsOf("chunk_size: 128\nchunk_size: 256\n")).toEqual([
      "config.yaml:2: invalid YAML: Map keys must be unique",
    ]);
  });

  it("rejects a file that is not a mapping", () => {
    expect(problemsOf("- listen\n- chunk_size\n")).toEqual([
      "config.yaml:1: expected a mapping of settings (key: value lines), got a list",
    ]);
  });

  it("follows YAML aliases", () => {
    const config = parseConfigText("timeouts:\n  read: &t 45s\n  write: *t\n", "c.yaml");
    expect(config.timeouts.writeMs).toBe(45_000);
  });
});

describe("loadConfigFile", () => {
  it("names an unreadable file", () => {
    expect(() => loadConfigFile("/nonexistent/config.yaml", "config.yaml")).toThrow(
      "config.yaml: cannot read the config file: no such file",
    );
  });
});

describe("config.example.yaml", () => {
  it("parses to exactly DEFAULT_CONFIG", () => {
    expect(loadConfigFile(EXAMPLE)).toEqual(DEFAULT_CONFIG);
  });

  it("shows every key of the contract, each with a comment", () => {
    const example = parseDocument(readFileSync(EXAMPLE, "utf8"));
    const keys = keyPaths(example.contents as YAMLMap);
    expect(keys).toEqual(keyPaths(parseDocument(formatConfig(DEFAULT_CONFIG)).contents as YAMLMap));
    const uncommented = readFileSync(EXAMPLE, "utf8")
      .split("\n")
      .filter((line) => /^\s*\w+:\s*\S/.test(line) && !line.includes("#"));
    expect(uncommented).toEqual([]);
  });
});

describe("formatConfig", () => {
  it("prints the defaults in the contract's spelling", () => {
    const text = formatConfig(DEFAULT_CONFIG);
    expect(text).toContain("listen: 0.0.0.0:1935\n");
    expect(text).toContain("max_message_size: 16MiB\n");
    expect(text).toContain("  read: 90s\n");
    expect(text).toContain("  stdio: off\n");
  });

  it("round-trips the defaults", () => {
    expect(parseConfigText(formatConfig(DEFAULT_CONFIG), "effective.yaml")).toEqual(DEFAULT_CONFIG);
  });

  it("round-trips a config where every value differs from the default", () => {
    const config: Config = {
      listen: { host: "::1", port: 0 },
      chunkSize: 128,
      maxConnections: 1,
      maxMessageSize: 65_537,
      streams: { publishConflict: "replace", gopCache: false, gopCacheMaxBytes: 500_000, maxSubscriberLagMs: 1_500 },
      log: { level: "error", format: "text" },
      timeouts: { handshakeMs: 250, readMs: 5_400_000, writeMs: 1, publisherIdleMs: 3_600_000, shutdownMs: 61_000 },
      recording: { enabled: true, dir: "rec dir/with: colon #hash" },
      relay: { destinations: ["rtmp://h/{app}/{name}", "rtmp://h2:1936/live"] },
      auth: {
        mode: "callback",
        actions: ["play"],
        tokens: { "live/test": "123", "app/x-y": "a: b #c" },
        file: "t.json",
        callbackUrl: "http://127.0.0.1:9/auth?x=1#f",
        callbackTimeoutMs: 100,
      },
      hooks: {
        timeoutMs: 7_000,
        concurrency: 99,
        stdio: "env",
        webhooks: [{ event: "*", url: "https://h/x" }],
        scripts: [{ event: "connection_close", path: "/bin/true" }],
      },
    };
    expect(parseConfigText(formatConfig(config), "effective.yaml")).toEqual(config);
  });
});

/** Every key path in a YAML mapping, e.g. "timeouts.read", in document order. */
function keyPaths(map: YAMLMap, prefix = ""): string[] {
  const paths: string[] = [];
  for (const pair of map.items) {
    const key = prefix + String(isScalar(pair.key) ? pair.key.value : pair.key);
    paths.push(key);
    if (isMap(pair.value)) paths.push(...keyPaths(pair.value, `${key}.`));
  }
  return paths;
}
