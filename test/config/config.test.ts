import { afterAll, describe, expect, it } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isScalar, parseDocument, type YAMLMap } from "yaml";
import { type Config, ConfigError, DEFAULT_CONFIG } from "../../src/config/config.ts";
import { formatConfig, loadConfigFile, MAX_CONFIG_FILE_BYTES, parseConfigText } from "../../src/config/load.ts";
import {
  formatDuration,
  formatListen,
  formatSize,
  parseDuration,
  parseListen,
  parseRelayUrl,
  parseSize,
  suggest,
  ValueError,
  workersParser,
} from "../../src/config/parse.ts";
import { MAX_PEM_FILE_BYTES } from "../../src/config/tls-files.ts";
import { scratchDir } from "../helpers/media.ts";

const EXAMPLE = join(import.meta.dir, "../../config.example.yaml");
/**
 * A real certificate chain (leaf + CA, valid until 2126) and keys, made once with openssl: `req -x509` for
 * the CA, `req` + `x509 -req` for the leaf, `genpkey` for other-key.pem, `pkcs8 -topk8` for encrypted-key.pem.
 */
const FIXTURES = join(import.meta.dir, "fixtures");
const CERT = join(FIXTURES, "fullchain.pem");
const KEY = join(FIXTURES, "key.pem");
const scratch = scratchDir("config");
afterAll(() => scratch.remove());

function writeScratch(name: string, text: string | Uint8Array): string {
  const path = join(scratch.path, name);
  writeFileSync(path, text);
  return path;
}

const RELAY_URL = 'an rtmp:// or rtmps:// URL with a host and an app, like "rtmp://example.com/live"';

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
    config.relay.destinations.push({ url: "rtmp://example.com/live", streams: [] });
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
  stats_interval: 1m
timeouts:
  handshake: 1s
  read: 2m
  write: 3
  publisher_idle: 1m30s
  shutdown: 0.5
recording:
  enabled: true
  dir: /var/lib/rtmp
  segment: 15m
  streams: [live/main, "games/*"]
  format: mp4
relay:
  destinations:
    - rtmp://a.example.com/live
    - "rtmps://b.example.com:443/{app}/{name}"
    - url: rtmp://c.example.com/push
      streams: ["live/*"]
auth:
  mode: token
  actions: [publish]
  tokens: { "live/test": "secret", "live/other": "s2" }
  file: tokens.json
  callback_url: https://auth.example.com/check
  callback_timeout: 2s
  secret: sign-key
hooks:
  timeout: 10s
  concurrency: 2
  stdio: json
  secret: "12345"
  webhooks:
    - { event: publish_start, url: "http://127.0.0.1:8080/hook" }
    - event: "*"
      url: https://hooks.example.com/all
  scripts:
    - { event: record_stop, path: /usr/local/bin/on-stop.sh }
http:
  listen: 127.0.0.1:8080
  api_token: api-secret
  flv: false
tls:
  listen: "[::]:1936"
  cert: ${CERT}
  key: ${KEY}
hls:
  enabled: true
  low_latency: true
  segment: 2s
  part: 250ms
  window: 10
  streams: [live/*]
cluster:
  node_id: edge-1
  advertise: rtmp://10.0.0.2:1935
  redis: rediss://:pw@redis.example.com:6380/2
  origins: [rtmp://origin-a:1935, "rtmps://origin-b/"]
  secret: cluster-key
  pull_idle: 30s
workers: 1
`;
    const expected: Config = {
      listen: { host: "::", port: 19350 },
      chunkSize: 65536,
      maxConnections: 5,
      maxMessageSize: 1024 * 1024,
      streams: { publishConflict: "replace", gopCache: false, gopCacheMaxBytes: 65536, maxSubscriberLagMs: 500 },
      log: { level: "debug", format: "text", statsIntervalMs: 60_000 },
      timeouts: { handshakeMs: 1_000, readMs: 120_000, writeMs: 3_000, publisherIdleMs: 90_000, shutdownMs: 500 },
      recording: { enabled: true, dir: "/var/lib/rtmp", segmentMs: 900_000, streams: ["live/main", "games/*"], format: "mp4" },
      relay: {
        destinations: [
          { url: "rtmp://a.example.com/live", streams: [] },
          { url: "rtmps://b.example.com:443/{app}/{name}", streams: [] },
          { url: "rtmp://c.example.com/push", streams: ["live/*"] },
        ],
      },
      auth: {
        mode: "token",
        actions: ["publish"],
        tokens: { "live/test": "secret", "live/other": "s2" },
        file: "tokens.json",
        callbackUrl: "https://auth.example.com/check",
        callbackTimeoutMs: 2_000,
        secret: "sign-key",
      },
      hooks: {
        timeoutMs: 10_000,
        concurrency: 2,
        stdio: "json",
        secret: "12345",
        webhooks: [
          { event: "publish_start", url: "http://127.0.0.1:8080/hook" },
          { event: "*", url: "https://hooks.example.com/all" },
        ],
        scripts: [{ event: "record_stop", path: "/usr/local/bin/on-stop.sh" }],
      },
      http: { listen: { host: "127.0.0.1", port: 8080 }, apiToken: "api-secret", flv: false },
      tls: { listen: { host: "::", port: 1936 }, cert: CERT, key: KEY },
      hls: { enabled: true, lowLatency: true, segmentMs: 2_000, partMs: 250, window: 10, streams: ["live/*"] },
      cluster: {
        nodeId: "edge-1",
        advertise: "rtmp://10.0.0.2:1935",
        redis: "rediss://:pw@redis.example.com:6380/2",
        origins: ["rtmp://origin-a:1935", "rtmps://origin-b"],
        secret: "cluster-key",
        pullIdleMs: 30_000,
      },
      workers: 1,
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
      `config.yaml:4: relay.destinations[1]: expected ${RELAY_URL}, got "http://bad.example.com/live"`,
      `config.yaml:5: relay.destinations[2]: expected ${RELAY_URL}, got "rtmp://"`,
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
    expect(problems[0]).toEndWith('pull_stop or "*", got "publish_begin"');
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
      const tokens = writeScratch("tokens.json", '{ "live/test": "secret" }\n');
      expect(parseConfigText(`auth:\n  mode: file\n  file: ${tokens}\n`, "c.yaml").auth.file).toBe(tokens);
    });

    it("file mode refuses a token file that is missing or broken, at the auth.file line", () => {
      const missing = join(scratch.path, "missing.json");
      expect(problemsOf(`auth:\n  mode: file\n  file: ${missing}\n`)).toEqual([
        `config.yaml:3: auth.file: ${missing}: no such file`,
      ]);
      const broken = writeScratch("broken.json", '{\n  "live/test": "hunter2",\n  "live/other": \n}\n');
      const [problem, ...rest] = problemsOf(`auth:\n  file: ${broken}\n  mode: file\n`);
      expect(rest).toEqual([]);
      expect(problem).toStartWith(`config.yaml:2: auth.file: ${broken}: not JSON: `);
      expect(problem).not.toContain("hunter2");
    });

    it("reads the token file only in file mode", () => {
      const config = parseConfigText("auth:\n  mode: token\n  tokens: { live/a: x }\n  file: /nonexistent.json\n", "c.yaml");
      expect(config.auth.file).toBe("/nonexistent.json");
    });

    it("sign mode needs a secret", () => {
      expect(problemsOf("auth:\n  mode: sign\n")).toEqual([
        "config.yaml:2: auth.secret: required when auth.mode is sign: the key that signs and checks ?sign= URLs",
      ]);
      expect(problemsOf('auth:\n  mode: sign\n  secret: ""\n')).toEqual([
        "config.yaml:3: auth.secret: required when auth.mode is sign: the key that signs and checks ?sign= URLs",
      ]);
      const auth = parseConfigText('auth:\n  mode: sign\n  secret: "k3y"\n', "c.yaml").auth;
      expect([auth.mode, auth.secret]).toEqual(["sign", "k3y"]);
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
        "config.yaml:5: auth.tokens.live/a: expected a string (quote secrets that look like numbers), got a number",
      ]);
      expect(problemsOf("auth:\n  mode: token\n  tokens:\n    test: s\n")).toEqual([
        'config.yaml:4: auth.tokens.test: expected a stream key "app/name" like "live/test", got "test"',
      ]);
      expect(problemsOf('auth:\n  tokens:\n    "live/*": s\n    live//x: s\n    live/b: ""\n')).toEqual([
        'config.yaml:3: auth.tokens.live/*: expected a stream key "app/name" like "live/test", got "live/*"',
        'config.yaml:4: auth.tokens.live//x: expected a stream key "app/name" like "live/test", got "live//x"',
        'config.yaml:5: auth.tokens.live/b: expected a token, got ""',
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

  it("reports a key repeated in a nested mapping or a list item, but not the same key in two items", () => {
    expect(problemsOf("timeouts:\n  read: 10s\n  write: 5s\n  read: 20s\n")).toEqual([
      "config.yaml:4: invalid YAML: Map keys must be unique",
    ]);
    const hooks = (second: string) =>
      `hooks:\n  webhooks:\n    - event: publish_start\n      url: http://127.0.0.1:1/a\n    - event: play_start\n      ${second}: http://127.0.0.1:1/b\n`;
    expect(problemsOf(hooks("event"))).toEqual(["config.yaml:6: invalid YAML: Map keys must be unique"]);
    expect(parseConfigText(hooks("url"), "c.yaml").hooks.webhooks.map((w) => w.event)).toEqual(["publish_start", "play_start"]);
    // Lines that look like keys inside a block scalar are its text.
    expect(problemsOf("log:\n  level: |\n    a: 1\n    a: 2\n")).toEqual([
      'config.yaml:2: log.level: expected debug, info, warn or error, got "a: 1\\na: 2\\n"',
    ]);
  });

  it("never loads the yaml package for a valid file: only to place a problem on its line", async () => {
    const load = join(import.meta.dir, "../../src/config/load.ts");
    const valid = [
      readFileSync(EXAMPLE, "utf8"),
      "hooks:\n  webhooks:\n    - event: publish_start\n      url: http://127.0.0.1:1/a\n    - event: play_start\n      url: http://127.0.0.1:1/b\n" +
        "relay:\n  destinations:\n    - url: rtmp://127.0.0.1:1/live\n      streams: [\"live/*\"]\n    - rtmp://127.0.0.1:2/live\n" +
        "auth:\n  mode: token\n  tokens:\n    live/a: one\n    live/b: two\n",
    ];
    const script = [
      `const { parseConfigText } = await import(${JSON.stringify(load)});`,
      "const loaded = () => Object.keys(require.cache).filter((k) => k.includes('/node_modules/yaml/')).length;",
      `for (const text of ${JSON.stringify(valid)}) parseConfigText(text, "c.yaml");`,
      "const afterValid = loaded();",
      `try { parseConfigText("chunk_size: 1\\n", "c.yaml"); } catch {}`,
      "console.log(JSON.stringify([afterValid, loaded() > 0]));",
    ].join("\n");
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = [await new Response(child.stdout).text(), await new Response(child.stderr).text()];
    expect(await child.exited, err).toBe(0);
    expect(JSON.parse(out)).toEqual([0, true]);
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

describe("intervals that 0 turns off: log.stats_interval and recording.segment", () => {
  it.each([
    ["0", 0],
    ["0s", 0],
    ["1s", 1_000],
    ["30s", 30_000],
    ["10m", 600_000],
  ] as const)("reads %p as %p ms", (text, ms) => {
    const config = parseConfigText(`log:\n  stats_interval: ${text}\nrecording:\n  segment: ${text}\n`, "c.yaml");
    expect([config.log.statsIntervalMs, config.recording.segmentMs]).toEqual([ms, ms]);
  });

  it("refuses less than a second, durations too long for a timer, and words", () => {
    expect(problemsOf("log:\n  stats_interval: 500ms\nrecording:\n  segment: 1000h\n")).toEqual([
      'config.yaml:2: log.stats_interval: expected 0 (off) or a duration of at least 1s, got "500ms"',
      'config.yaml:4: recording.segment: expected a duration of at most 596h, got "1000h"',
    ]);
    expect(problemsOf("recording:\n  segment: hourly\n")).toEqual([
      'config.yaml:2: recording.segment: expected a duration like "90s", got "hourly"',
    ]);
  });
});

describe("recording.format", () => {
  it("is flv unless set to mp4, and refuses anything else at its line", () => {
    expect(parseConfigText("recording:\n  enabled: true\n", "c.yaml").recording.format).toBe("flv");
    expect(parseConfigText("recording:\n  format: mp4\n", "c.yaml").recording.format).toBe("mp4");
    expect(problemsOf("recording:\n  enabled: true\n  format: MP4\n")).toEqual([
      'config.yaml:3: recording.format: expected flv or mp4, got "MP4" (did you mean "mp4"?)',
    ]);
    expect(problemsOf("recording:\n  format: [flv]\n")).toEqual(["config.yaml:2: recording.format: expected flv or mp4, got a list"]);
  });
});

describe("recording.streams", () => {
  it("reads stream keys and globs", () => {
    const config = parseConfigText('recording:\n  streams: [live/main, "games/*", "*-hd"]\n', "c.yaml");
    expect(config.recording.streams).toEqual(["live/main", "games/*", "*-hd"]);
  });

  it("refuses what can never match a key, each at its line", () => {
    const text = ["recording:", "  streams:", "    - live/main", '    - ""', "    - live/?", "    - /live/x", "    - 5", ""];
    const pattern = 'expected a stream key or a glob like "live/main" or "live/*"';
    expect(problemsOf(text.join("\n"))).toEqual([
      `config.yaml:4: recording.streams[1]: ${pattern}, got ""`,
      `config.yaml:5: recording.streams[2]: ${pattern}, got "live/?"`,
      `config.yaml:6: recording.streams[3]: ${pattern}, got "/live/x"`,
      `config.yaml:7: recording.streams[4]: ${pattern}, got 5`,
    ]);
  });
});

describe("relay.destinations", () => {
  it("reads a URL as a destination for every stream, and { url, streams } for some", () => {
    const text = [
      "relay:",
      "  destinations:",
      "    - rtmp://a.example.com/live",
      "    - { url: rtmps://b.example.com/app/key, streams: [live/main] }",
      "    - url: rtmp://c.example.com/{app}/{name}?token=x",
      "    - url: rtmp://d.example.com/live",
      "      streams: []",
      "",
    ].join("\n");
    expect(parseConfigText(text, "c.yaml").relay.destinations).toEqual([
      { url: "rtmp://a.example.com/live", streams: [] },
      { url: "rtmps://b.example.com/app/key", streams: ["live/main"] },
      { url: "rtmp://c.example.com/{app}/{name}?token=x", streams: [] },
      { url: "rtmp://d.example.com/live", streams: [] },
    ]);
  });

  it.each([
    "rtmp://example.com/live",
    "rtmps://example.com:443/live/key",
    "RTMP://example.com/live",
    "rtmp://[::1]:1935/{app}",
    "rtmp://h/{app}/{name}",
    "rtmp://h/live/{name}_hd?key={name}",
    "rtmp://user:pass@h/live",
  ])("accepts %p", (url) => {
    expect(parseRelayUrl(url)).toBe(url);
  });

  it.each([
    ["another scheme", "http://h/live", ""],
    ["no host", "rtmp:///live", ""],
    ["no host at all", "rtmp://", ""],
    ["no app", "rtmp://h", " (the path needs at least the app)"],
    ["only a slash", "rtmp://h/", " (the path needs at least the app)"],
    ["an unknown placeholder", "rtmp://h/live/{stream}", " (placeholders are {app} and {name})"],
    ["a placeholder left open", "rtmp://h/{app/x", " (placeholders are {app} and {name})"],
    ["a stray brace", "rtmp://h/live/}", " (placeholders are {app} and {name})"],
  ])("refuses %s", (_why, url, reason) => {
    expect(() => parseRelayUrl(url)).toThrow(`expected ${RELAY_URL}${reason}, got ${JSON.stringify(url)}`);
  });

  it("never quotes back a query or a login, which may hold the destination's key or password", () => {
    expect(() => parseRelayUrl("http://h/live?key=hunter2")).toThrow(`expected ${RELAY_URL}, got "http://h/live?…"`);
    expect(() => parseRelayUrl("http://me:hunter2@h/live")).toThrow(`expected ${RELAY_URL}, got "http://…@h/live"`);
  });

  it("reports bad entries, bad keys inside entries and unknown keys, at their lines", () => {
    const text = [
      "relay:", // 1
      "  destinations:", // 2
      "    - { streams: [live/a] }", // 3
      "    - url: rtmp://h/live", // 4
      "      stream: [live/a]", // 5
      "    - url: rtmp://h/live", // 6
      '      streams: ["live/ x"]', // 7
      "    - [rtmp://h/live]", // 8
      "    - 1935", // 9
      "",
    ].join("\n");
    expect(problemsOf(text)).toEqual([
      "config.yaml:3: relay.destinations[0].url: required key is missing",
      "config.yaml:5: relay.destinations[1].stream: unknown key (did you mean streams?)",
      'config.yaml:7: relay.destinations[2].streams[0]: expected a stream key or a glob like "live/main" or "live/*", got "live/ x"',
      `config.yaml:8: relay.destinations[3]: expected ${RELAY_URL}, got a list`,
      `config.yaml:9: relay.destinations[4]: expected ${RELAY_URL}, got 1935`,
    ]);
  });
});

describe("secrets", () => {
  it("reads auth.secret, hooks.secret and http.api_token as strings", () => {
    const config = parseConfigText('auth:\n  secret: a\nhooks:\n  secret: "2"\nhttp:\n  api_token: c\n', "c.yaml");
    expect([config.auth.secret, config.hooks.secret, config.http.apiToken]).toEqual(["a", "2", "c"]);
  });

  it("never quotes a secret back in a problem", () => {
    const problems = problemsOf("auth:\n  secret: 918273645\nhooks:\n  secret: 4455667788\nhttp:\n  api_token: 99887766\n");
    const message = "expected a string (quote secrets that look like numbers), got a number";
    expect(problems).toEqual([
      `config.yaml:2: auth.secret: ${message}`,
      `config.yaml:4: hooks.secret: ${message}`,
      `config.yaml:6: http.api_token: ${message}`,
    ]);
  });
});

describe("http", () => {
  it("is off by default and when listen is empty", () => {
    expect(parseConfigText("", "c.yaml").http.listen).toBeNull();
    expect(parseConfigText('http:\n  listen: ""\n', "c.yaml").http.listen).toBeNull();
  });

  it("reads listen, api_token and flv", () => {
    const http = parseConfigText('http:\n  listen: "[::1]:8080"\n  api_token: t0k\n  flv: false\n', "c.yaml").http;
    expect(http).toEqual({ listen: { host: "::1", port: 8080 }, apiToken: "t0k", flv: false });
  });

  it("reports bad values and unknown keys", () => {
    expect(problemsOf("http:\n  listen: 8080\n  flv: on\n  api-token: x\n")).toEqual([
      'config.yaml:2: http.listen: expected HOST:PORT like "0.0.0.0:1935", got 8080',
      'config.yaml:3: http.flv: expected true or false, got "on"',
      "config.yaml:4: http.api-token: unknown key (did you mean api_token?)",
    ]);
  });
});

describe("cluster and workers", () => {
  it("are off by default: no registry, no origins, one process", () => {
    const config = parseConfigText("", "c.yaml");
    expect(config.cluster).toEqual({ nodeId: "", advertise: "", redis: "", origins: [], secret: "", pullIdleMs: 10_000 });
    expect(config.workers).toBe(1);
  });

  it("reports bad URLs, node ids and worker counts at their lines, never quoting a password or a query", () => {
    const text = [
      "cluster:", // 1
      "  node_id: edge 1", // 2
      "  advertise: http://10.0.0.2:1935", // 3
      "  redis: http://:hunter2@127.0.0.1:6379", // 4
      "  origins:", // 5
      "    - rtmp://a:1935/live", // 6
      "    - rtmp://b?sign=xyz", // 7
      "    - 1935", // 8
      "  pull_idle: 0s", // 9
      "workers: -1", // 10
    ].join("\n");
    const base = 'expected an rtmp:// or rtmps:// base URL like "rtmp://10.0.0.2:1935" (no path, query or user), got';
    expect(problemsOf(text)).toEqual([
      'config.yaml:2: cluster.node_id: expected "" or up to 128 of A-Z a-z 0-9 . _ : - like "edge-1", got "edge 1"',
      `config.yaml:3: cluster.advertise: ${base} "http://10.0.0.2:1935"`,
      'config.yaml:4: cluster.redis: expected "" or a redis:// or rediss:// URL like "redis://127.0.0.1:6379/0", got "http://…@127.0.0.1:6379"',
      `config.yaml:6: cluster.origins[0]: ${base} "rtmp://a:1935/live"`,
      `config.yaml:7: cluster.origins[1]: ${base} "rtmp://b?…"`,
      'config.yaml:8: cluster.origins[2]: expected an rtmp:// or rtmps:// base URL like "rtmp://10.0.0.2:1935", got 1935',
      'config.yaml:9: cluster.pull_idle: expected a duration greater than 0, got "0s"',
      "config.yaml:10: workers: expected an integer from 0 to 1024, got -1",
    ]);
  });

  it("refuses a redis URL whose path is not a database number", () => {
    expect(problemsOf("cluster:\n  redis: redis://h:6379/db\n")).toEqual([
      'config.yaml:2: cluster.redis: expected "" or a redis:// or rediss:// URL like "redis://127.0.0.1:6379/0", got "redis://h:6379/db"',
    ]);
  });

  it("takes more than one worker only on Linux (0 is one per core)", () => {
    expect(workersParser("linux", 8)(0)).toBe(0);
    expect(workersParser("linux", 8)(4)).toBe(4);
    expect(workersParser("darwin", 8)(1)).toBe(1);
    expect(workersParser("darwin", 1)(0)).toBe(0);
    expect(() => workersParser("darwin", 8)(2)).toThrow("expected 1 on darwin (more workers share a port only on Linux), got 2");
    expect(() => workersParser("win32", 8)(0)).toThrow("expected 1 on win32");
  });
});

describe("tls", () => {
  const tlsConfig = (cert: string, key: string) => `tls:\n  listen: 127.0.0.1:1936\n  cert: "${cert}"\n  key: "${key}"\n`;

  it("is off by default and when listen is empty, without looking at cert and key", () => {
    expect(parseConfigText("", "c.yaml").tls).toEqual({ listen: null, cert: "", key: "" });
    const off = parseConfigText('tls:\n  listen: ""\n  cert: /nonexistent.pem\n', "c.yaml").tls;
    expect(off).toEqual({ listen: null, cert: "/nonexistent.pem", key: "" });
  });

  it("reads a certificate chain and its key", () => {
    expect(parseConfigText(tlsConfig(CERT, KEY), "c.yaml").tls).toEqual({
      listen: { host: "127.0.0.1", port: 1936 },
      cert: CERT,
      key: KEY,
    });
  });

  it("needs cert and key when listen is set", () => {
    expect(problemsOf("tls:\n  listen: :1936\n")).toEqual([
      "config.yaml:2: tls.cert: required when tls.listen is set: the PEM certificate chain file",
      "config.yaml:2: tls.key: required when tls.listen is set: the PEM private key file",
    ]);
  });

  it("names a file it cannot read, at its line", () => {
    const missing = join(scratch.path, "nope.pem");
    expect(problemsOf(tlsConfig(missing, scratch.path))).toEqual([
      `config.yaml:3: tls.cert: cannot read "${missing}": no such file`,
      `config.yaml:4: tls.key: cannot read "${scratch.path}": it is a directory`,
    ]);
  });

  it("says when the files are swapped", () => {
    expect(problemsOf(tlsConfig(KEY, CERT))).toEqual([
      `config.yaml:3: tls.cert: "${KEY}" is not a PEM certificate chain: it holds a private key (that goes in tls.key)`,
      `config.yaml:4: tls.key: "${CERT}" is not a PEM private key: it holds a certificate (that goes in tls.cert)`,
    ]);
  });

  it("refuses files that are not PEM, PEM that does not parse, and encrypted keys", () => {
    const text = writeScratch("notes.txt", "hello\n");
    const bad = writeScratch("bad.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
    expect(problemsOf(tlsConfig(text, text))).toEqual([
      `config.yaml:3: tls.cert: "${text}" is not a PEM certificate chain`,
      `config.yaml:4: tls.key: "${text}" is not a PEM private key`,
    ]);
    expect(problemsOf(tlsConfig(bad, join(FIXTURES, "encrypted-key.pem")))).toEqual([
      `config.yaml:3: tls.cert: "${bad}": its first certificate does not parse`,
      `config.yaml:4: tls.key: "${join(FIXTURES, "encrypted-key.pem")}" is an encrypted private key; the server needs it unencrypted`,
    ]);
  });

  it("refuses a key that is not the certificate's", () => {
    const other = join(FIXTURES, "other-key.pem");
    expect(problemsOf(tlsConfig(CERT, other))).toEqual([
      `config.yaml:4: tls.key: "${other}" is not the private key of the certificate in tls.cert`,
    ]);
  });

  it("reads no more than a bounded amount, and never waits on a FIFO", () => {
    const huge = writeScratch("huge.pem", new Uint8Array(MAX_PEM_FILE_BYTES + 1));
    const fifo = join(scratch.path, "fifo.pem");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(problemsOf(tlsConfig(huge, fifo))).toEqual([
      `config.yaml:3: tls.cert: cannot read "${huge}": larger than ${MAX_PEM_FILE_BYTES} bytes: not the file meant`,
      `config.yaml:4: tls.key: cannot read "${fifo}": not a regular file`,
    ]);
  });
});

describe("loadConfigFile", () => {
  it("names an unreadable file", () => {
    expect(() => loadConfigFile("/nonexistent/config.yaml", "config.yaml")).toThrow(
      "config.yaml: cannot read the config file: no such file",
    );
  });

  it("refuses a file too large to be a config", () => {
    const path = writeScratch("huge.yaml", `# ${"x".repeat(MAX_CONFIG_FILE_BYTES)}\n`);
    expect(() => loadConfigFile(path, "huge.yaml")).toThrow(
      `huge.yaml: cannot read the config file: larger than ${MAX_CONFIG_FILE_BYTES} bytes: not the file meant`,
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

  it("prints every key of the contract, in its order", () => {
    const keys = keyPaths(parseDocument(formatConfig(DEFAULT_CONFIG)).contents as YAMLMap);
    expect(keys).toEqual([
      "listen", "chunk_size", "max_connections", "max_message_size",
      "streams", "streams.publish_conflict", "streams.gop_cache", "streams.gop_cache_max_bytes", "streams.max_subscriber_lag",
      "log", "log.level", "log.format", "log.stats_interval",
      "timeouts", "timeouts.handshake", "timeouts.read", "timeouts.write", "timeouts.publisher_idle", "timeouts.shutdown",
      "recording", "recording.enabled", "recording.dir", "recording.segment", "recording.streams", "recording.format",
      "relay", "relay.destinations",
      "auth", "auth.mode", "auth.actions", "auth.tokens", "auth.file", "auth.callback_url", "auth.callback_timeout", "auth.secret",
      "hooks", "hooks.timeout", "hooks.concurrency", "hooks.stdio", "hooks.secret", "hooks.webhooks", "hooks.scripts",
      "http", "http.listen", "http.api_token", "http.flv",
      "tls", "tls.listen", "tls.cert", "tls.key",
      "hls", "hls.enabled", "hls.low_latency", "hls.segment", "hls.part", "hls.window", "hls.streams",
      "cluster", "cluster.node_id", "cluster.advertise", "cluster.redis", "cluster.origins", "cluster.secret", "cluster.pull_idle",
      "workers",
    ]);
  });

  it("prints a destination for every stream as its URL, and one for some streams as { url, streams }", () => {
    const config = withDefaults((c) => {
      c.relay.destinations = [
        { url: "rtmp://a/live", streams: [] },
        { url: "rtmp://b/live", streams: ["live/*"] },
      ];
    });
    expect(formatConfig(config)).toContain(
      'relay:\n  destinations:\n    - rtmp://a/live\n    - url: rtmp://b/live\n      streams:\n        - live/*\n',
    );
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
      log: { level: "error", format: "text", statsIntervalMs: 0 },
      timeouts: { handshakeMs: 250, readMs: 5_400_000, writeMs: 1, publisherIdleMs: 3_600_000, shutdownMs: 61_000 },
      recording: { enabled: true, dir: "rec dir/with: colon #hash", segmentMs: 1_500, streams: ["*"], format: "mp4" },
      relay: {
        destinations: [
          { url: "rtmp://h/{app}/{name}", streams: [] },
          { url: "rtmps://h2:1936/live?key=a&b=#c", streams: ["live/a", "*-hd"] },
        ],
      },
      auth: {
        mode: "callback",
        actions: ["play"],
        tokens: { "live/test": "123", "app/x-y": "a: b #c" },
        file: "t.json",
        callbackUrl: "http://127.0.0.1:9/auth?x=1#f",
        callbackTimeoutMs: 100,
        secret: "0x1F",
      },
      hooks: {
        timeoutMs: 7_000,
        concurrency: 99,
        stdio: "env",
        secret: "true",
        webhooks: [{ event: "*", url: "https://h/x" }],
        scripts: [{ event: "connection_close", path: "/bin/true" }],
      },
      http: { listen: { host: "::1", port: 0 }, apiToken: "123", flv: false },
      tls: { listen: { host: "0.0.0.0", port: 1936 }, cert: CERT, key: KEY },
      hls: { enabled: true, lowLatency: false, segmentMs: 2_500, partMs: 300, window: 3, streams: ["live/*"] },
      cluster: {
        nodeId: "n:1935",
        advertise: "rtmps://[::1]:1936",
        redis: "redis://u:p%40ss@h/15",
        origins: ["rtmp://a", "rtmp://b:19350"],
        secret: "12",
        pullIdleMs: 250,
      },
      workers: process.platform === "linux" ? 4 : 1,
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
