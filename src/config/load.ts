/**
 * YAML config file -> validated Config, and Config -> YAML for --check-config. Every problem in a file is
 * reported at once, each as `file:line: key.path: message` in the contract's snake_case key names.
 *
 * Bun.YAML reads the values. It gives no positions and lets the last of two equal keys win, so the `yaml`
 * package is loaded only when there is something to report (a problem to place on its line, a syntax error,
 * a key that may repeat) or a config to print: a server started with a valid file never holds it, which is
 * about 8 MB less resident memory.
 */
import type { Node, Pair } from "yaml";
import { availableParallelism } from "node:os";
import { readTokenFile } from "../auth/token-file.ts";
import { NODE_ID_PATTERN } from "../cluster/cluster-settings.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../logger.ts";
import { RECORDING_FORMATS } from "../record/recording-format.ts";
import type { RelayDestination } from "../relay/relay.ts";
import {
  AUTH_ACTIONS,
  AUTH_MODES,
  type Config,
  ConfigError,
  type ConfigProblem,
  DEFAULT_CONFIG,
  HOOK_EVENTS,
  HOOK_STDIO_MODES,
  type HookEventFilter,
  type HookStdio,
  type ListenAddress,
  PUBLISH_CONFLICTS,
} from "./config.ts";
import {
  describeValue,
  enumParser,
  formatDuration,
  formatListen,
  formatSize,
  integerParser,
  parseBoolean,
  parseDuration,
  parseHttpUrl,
  parseKeyPattern,
  parseListen,
  parseRedisUrl,
  parseRelayUrl,
  parseRtmpBaseUrl,
  parseSecret,
  parseSize,
  parseStreamKey,
  parseString,
  suggest,
  ValueError,
  workersParser,
} from "./parse.ts";
import { readTextFile } from "./read-file.ts";
import { keyMatchesCertificate, readCertificateChain, readPrivateKey } from "./tls-files.ts";

/** Largest config file read: a full one is about 4 KiB, so anything this big is the wrong file. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** Reads and validates a config file. `displayName` is how errors name it (the path as the operator typed it). */
export function loadConfigFile(path: string, displayName = path): Config {
  let text: string;
  try {
    text = readTextFile(path, MAX_CONFIG_FILE_BYTES);
  } catch (error) {
    if (!(error instanceof ValueError)) throw error;
    throw new ConfigError([{ file: displayName, message: `cannot read the config file: ${error.message}` }]);
  }
  return parseConfigText(text, displayName);
}

/**
 * Validates config text; keys left out take the defaults. Files it names (the auth token file, TLS
 * certificate and key) are read and checked too, relative to the working directory. Throws ConfigError
 * listing every problem found.
 */
export function parseConfigText(text: string, fileName: string): Config {
  let contents: unknown;
  try {
    if (mayRepeatKey(text)) throwYamlErrors(text, fileName);
    contents = Bun.YAML.parse(text);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // Bun.YAML does not say where: the yaml package does, and its message is kept only if it finds nothing.
    throwYamlErrors(text, fileName);
    const message = error instanceof Error ? error.message.replace(/^YAML Parse error: /, "") : String(error);
    throw new ConfigError([{ file: fileName, message: `invalid YAML: ${message}` }]);
  }
  const source = new Source(fileName, text);
  if (contents !== null && !isMapping(contents)) {
    source.report(ROOT, "", `expected a mapping of settings (key: value lines), got ${describeValue(contents)}`);
    throw new ConfigError(source.locatedProblems());
  }
  const root = new MapReader(source, [], isMapping(contents) ? contents : undefined, undefined);
  const config = readConfig(root);
  root.finish();
  if (source.problems.length > 0) throw new ConfigError(source.locatedProblems());
  return config;
}

/** The whole key tree of the contract, in its order. Each key's parser says what values it takes. */
function readConfig(root: MapReader): Config {
  const d = structuredClone(DEFAULT_CONFIG);
  return {
    listen: root.value("listen", d.listen, parseListen),
    chunkSize: root.value("chunk_size", d.chunkSize, integerParser(128, 65_536)),
    maxConnections: root.value("max_connections", d.maxConnections, integerParser(1)),
    maxMessageSize: root.value("max_message_size", d.maxMessageSize, size),
    streams: root.section("streams", (s) => ({
      publishConflict: s.value("publish_conflict", d.streams.publishConflict, enumParser(PUBLISH_CONFLICTS)),
      gopCache: s.value("gop_cache", d.streams.gopCache, parseBoolean),
      gopCacheMaxBytes: s.value("gop_cache_max_bytes", d.streams.gopCacheMaxBytes, size),
      maxSubscriberLagMs: s.value("max_subscriber_lag", d.streams.maxSubscriberLagMs, duration),
    })),
    log: root.section("log", (s) => ({
      level: s.value("level", d.log.level, enumParser(LOG_LEVELS)),
      format: s.value("format", d.log.format, enumParser(LOG_FORMATS)),
      statsIntervalMs: s.value("stats_interval", d.log.statsIntervalMs, durationOrOff),
    })),
    timeouts: root.section("timeouts", (s) => ({
      handshakeMs: s.value("handshake", d.timeouts.handshakeMs, duration),
      readMs: s.value("read", d.timeouts.readMs, duration),
      writeMs: s.value("write", d.timeouts.writeMs, duration),
      publisherIdleMs: s.value("publisher_idle", d.timeouts.publisherIdleMs, duration),
      shutdownMs: s.value("shutdown", d.timeouts.shutdownMs, duration),
    })),
    recording: root.section("recording", (s) => ({
      enabled: s.value("enabled", d.recording.enabled, parseBoolean),
      dir: s.value("dir", d.recording.dir, nonEmpty("a directory path")),
      segmentMs: s.value("segment", d.recording.segmentMs, durationOrOff),
      streams: s.list("streams", d.recording.streams, parseKeyPattern),
      format: s.value("format", d.recording.format, enumParser(RECORDING_FORMATS)),
    })),
    relay: root.section("relay", (s) => ({
      destinations: s.listOfSections("destinations", readDestination, destinationForEveryStream),
    })),
    auth: root.section("auth", readAuth),
    hooks: root.section("hooks", (s) => ({
      timeoutMs: s.value("timeout", d.hooks.timeoutMs, duration),
      concurrency: s.value("concurrency", d.hooks.concurrency, integerParser(1)),
      stdio: s.value("stdio", d.hooks.stdio, hookStdio),
      secret: s.value("secret", d.hooks.secret, parseSecret),
      webhooks: s.listOfSections("webhooks", (w) => {
        const event = w.required("event", hookEvent);
        const url = w.required("url", parseHttpUrl);
        return event === undefined || url === undefined ? undefined : { event, url };
      }),
      scripts: s.listOfSections("scripts", (w) => {
        const event = w.required("event", hookEvent);
        const path = w.required("path", nonEmpty("a path to an executable"));
        return event === undefined || path === undefined ? undefined : { event, path };
      }),
    })),
    http: root.section("http", (s) => ({
      listen: s.value("listen", d.http.listen, listenOrOff),
      apiToken: s.value("api_token", d.http.apiToken, parseSecret),
      flv: s.value("flv", d.http.flv, parseBoolean),
    })),
    tls: root.section("tls", readTls),
    hls: root.section("hls", readHls),
    cluster: root.section("cluster", (s) => ({
      nodeId: s.value("node_id", d.cluster.nodeId, nodeId),
      advertise: s.value("advertise", d.cluster.advertise, (v) => (v === "" ? "" : parseRtmpBaseUrl(v))),
      redis: s.value("redis", d.cluster.redis, parseRedisUrl),
      origins: s.list("origins", d.cluster.origins, parseRtmpBaseUrl),
      secret: s.value("secret", d.cluster.secret, parseSecret),
      pullIdleMs: s.value("pull_idle", d.cluster.pullIdleMs, duration),
    })),
    workers: root.value("workers", d.workers, workersParser(process.platform, availableParallelism())),
  };
}

/** cluster.node_id: "" (the default), or a name that can stand in a Redis key and a log line. */
function nodeId(value: unknown): string {
  if (value === "" || (typeof value === "string" && NODE_ID_PATTERN.test(value))) return value;
  throw new ValueError(`expected "" or up to 128 of A-Z a-z 0-9 . _ : - like "edge-1", got ${describeValue(value)}`);
}

/** `{ url, streams }`: the long form of a relay destination, for pushing only some streams. */
function readDestination(reader: MapReader): RelayDestination | undefined {
  const url = reader.required("url", parseRelayUrl);
  const streams = reader.list("streams", [], parseKeyPattern);
  return url === undefined ? undefined : { url, streams };
}

/** A plain URL: the short form of a relay destination, for every stream. */
function destinationForEveryStream(url: unknown): RelayDestination {
  return { url: parseRelayUrl(url), streams: [] };
}

function readAuth(s: MapReader): Config["auth"] {
  const d = DEFAULT_CONFIG.auth;
  const auth = {
    mode: s.value("mode", d.mode, enumParser(AUTH_MODES)),
    actions: [...new Set(s.list("actions", [...d.actions], enumParser(AUTH_ACTIONS)))],
    tokens: s.record("tokens", {}, parseStreamKey, nonEmptySecret("a token")),
    file: s.value("file", d.file, parseString),
    callbackUrl: s.value("callback_url", d.callbackUrl, (v) => (v === "" ? "" : parseHttpUrl(v))),
    callbackTimeoutMs: s.value("callback_timeout", d.callbackTimeoutMs, duration),
    secret: s.value("secret", d.secret, parseSecret),
  };
  if (auth.mode === "token" && Object.keys(auth.tokens).length === 0) {
    s.problem("tokens", `required when auth.mode is token: map each "app/name" to its token`, "mode");
  }
  if (auth.mode === "file" && auth.file === "") {
    s.problem("file", "required when auth.mode is file: the JSON file of tokens", "mode");
  } else if (auth.mode === "file") {
    s.check("file", () => readTokenFile(auth.file));
  }
  if (auth.mode === "callback" && auth.callbackUrl === "") {
    s.problem("callback_url", "required when auth.mode is callback: an http:// or https:// URL", "mode");
  }
  if (auth.mode === "sign" && auth.secret === "") {
    s.problem("secret", "required when auth.mode is sign: the key that signs and checks ?sign= URLs", "mode");
  }
  return auth;
}

/** With tls.listen set, the certificate chain and key must be readable PEM files that belong together. */
function readTls(s: MapReader): Config["tls"] {
  const d = DEFAULT_CONFIG.tls;
  const tls = {
    listen: s.value("listen", d.listen, listenOrOff),
    cert: s.value("cert", d.cert, parseString),
    key: s.value("key", d.key, parseString),
  };
  if (tls.listen === null) return tls;
  if (tls.cert === "") s.problem("cert", "required when tls.listen is set: the PEM certificate chain file", "listen");
  if (tls.key === "") s.problem("key", "required when tls.listen is set: the PEM private key file", "listen");
  const cert = tls.cert === "" ? undefined : s.check("cert", () => readCertificateChain(tls.cert));
  const key = tls.key === "" ? undefined : s.check("key", () => readPrivateKey(tls.key));
  if (cert !== undefined && key !== undefined && !keyMatchesCertificate(cert, key)) {
    s.problem("key", `${JSON.stringify(tls.key)} is not the private key of the certificate in tls.cert`, "listen");
  }
  return tls;
}

/** A part is a piece of a segment; an LL-HLS player holds back 3 parts and more, from a window of at least 7. */
function readHls(s: MapReader): Config["hls"] {
  const d = DEFAULT_CONFIG.hls;
  const hls = {
    enabled: s.value("enabled", d.enabled, parseBoolean),
    lowLatency: s.value("low_latency", d.lowLatency, parseBoolean),
    segmentMs: s.value("segment", d.segmentMs, durationWithin(100, 60_000)),
    partMs: s.value("part", d.partMs, durationWithin(20, 60_000)),
    window: s.value("window", d.window, integerParser(3, 1_000)),
    streams: s.list("streams", [...d.streams], parseKeyPattern),
  };
  if (hls.partMs > hls.segmentMs) s.problem("part", `expected at most hls.segment (${formatDuration(hls.segmentMs)}), got ${formatDuration(hls.partMs)}`, "segment");
  if (hls.lowLatency && hls.window < 7) s.problem("window", `expected at least 7 with hls.low_latency, got ${hls.window}`, "low_latency");
  return hls;
}

/** A duration from `minMs` to `maxMs`. */
function durationWithin(minMs: number, maxMs: number): (value: unknown) => number {
  return (value) => {
    const ms = parseDuration(value);
    if (ms >= minMs && ms <= maxMs) return ms;
    throw new ValueError(`expected a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)}, got ${describeValue(value)}`);
  };
}

/** The longest timer setTimeout holds (2^31-1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Most durations in the contract arm a timer: they must be above 0 and fit one. */
function duration(value: unknown): number {
  const ms = parseDuration(value);
  if (ms <= 0) throw new ValueError(`expected a duration greater than 0, got ${describeValue(value)}`);
  if (ms > MAX_TIMER_MS) throw new ValueError(`expected a duration of at most 596h, got ${describeValue(value)}`);
  return ms;
}

/**
 * An interval where 0 means off (log.stats_interval, recording.segment). Under a second is refused: a stats
 * line or a new file that often is a slip for a larger unit, and would flood the log or the disk.
 */
function durationOrOff(value: unknown): number {
  const ms = parseDuration(value);
  if (ms === 0) return 0;
  if (ms < 1_000) throw new ValueError(`expected 0 (off) or a duration of at least 1s, got ${describeValue(value)}`);
  return duration(value);
}

/** `""` turns a listener off (http.listen, tls.listen). */
function listenOrOff(value: unknown): ListenAddress | null {
  return value === "" ? null : parseListen(value);
}

/** Every size in the contract is a limit, and a limit of 0 bytes would refuse everything. */
function size(value: unknown): number {
  const bytes = parseSize(value);
  if (bytes <= 0) throw new ValueError(`expected a size greater than 0, got ${describeValue(value)}`);
  return bytes;
}

function nonEmpty(what: string): (value: unknown) => string {
  return (value) => {
    if (typeof value === "string" && value !== "") return value;
    throw new ValueError(`expected ${what}, got ${describeValue(value)}`);
  };
}

function nonEmptySecret(what: string): (value: unknown) => string {
  return (value) => {
    if (parseSecret(value) !== "") return value as string;
    throw new ValueError(`expected ${what}, got ""`);
  };
}

const hookEvent = enumParser<HookEventFilter>([...HOOK_EVENTS, "*"]);
const stdioMode = enumParser(HOOK_STDIO_MODES);

/** The contract lets `stdio: false` mean off, as it reads naturally. */
function hookStdio(value: unknown): HookStdio {
  return value === false ? "off" : stdioMode(value);
}

/** Prints a Config as a config file in the contract's key names and order; parsing it gives the Config back. */
export function formatConfig(config: Config): string {
  const { streams, log, timeouts, recording, relay, auth, hooks, http, tls, hls, cluster } = config;
  const document = {
    listen: formatListen(config.listen),
    chunk_size: config.chunkSize,
    max_connections: config.maxConnections,
    max_message_size: yamlSize(config.maxMessageSize),
    streams: {
      publish_conflict: streams.publishConflict,
      gop_cache: streams.gopCache,
      gop_cache_max_bytes: yamlSize(streams.gopCacheMaxBytes),
      max_subscriber_lag: formatDuration(streams.maxSubscriberLagMs),
    },
    log: { level: log.level, format: log.format, stats_interval: formatDuration(log.statsIntervalMs) },
    timeouts: {
      handshake: formatDuration(timeouts.handshakeMs),
      read: formatDuration(timeouts.readMs),
      write: formatDuration(timeouts.writeMs),
      publisher_idle: formatDuration(timeouts.publisherIdleMs),
      shutdown: formatDuration(timeouts.shutdownMs),
    },
    recording: {
      enabled: recording.enabled,
      dir: recording.dir,
      segment: formatDuration(recording.segmentMs),
      streams: recording.streams,
      format: recording.format,
    },
    // The short form where it says everything: a destination for every stream is just its URL.
    relay: {
      destinations: relay.destinations.map(({ url, streams }) => (streams.length === 0 ? url : { url, streams })),
    },
    auth: {
      mode: auth.mode,
      actions: auth.actions,
      tokens: auth.tokens,
      file: auth.file,
      callback_url: auth.callbackUrl,
      callback_timeout: formatDuration(auth.callbackTimeoutMs),
      secret: auth.secret,
    },
    hooks: {
      timeout: formatDuration(hooks.timeoutMs),
      concurrency: hooks.concurrency,
      stdio: hooks.stdio,
      secret: hooks.secret,
      webhooks: hooks.webhooks.map(({ event, url }) => ({ event, url })),
      scripts: hooks.scripts.map(({ event, path }) => ({ event, path })),
    },
    http: { listen: listenOrEmpty(http.listen), api_token: http.apiToken, flv: http.flv },
    tls: { listen: listenOrEmpty(tls.listen), cert: tls.cert, key: tls.key },
    hls: {
      enabled: hls.enabled,
      low_latency: hls.lowLatency,
      segment: formatDuration(hls.segmentMs),
      part: formatDuration(hls.partMs),
      window: hls.window,
      streams: hls.streams,
    },
    cluster: {
      node_id: cluster.nodeId,
      advertise: cluster.advertise,
      redis: cluster.redis,
      origins: cluster.origins,
      secret: cluster.secret,
      pull_idle: formatDuration(cluster.pullIdleMs),
    },
    workers: config.workers,
  };
  // lineWidth 0: never fold a long URL or path across lines.
  return yamlPackage().stringify(document, { lineWidth: 0 });
}

function listenOrEmpty(address: ListenAddress | null): string {
  return address === null ? "" : formatListen(address);
}

/** "16MiB" where a unit fits, else the plain number of bytes (a number, so YAML prints it unquoted). */
function yamlSize(bytes: number): string | number {
  const text = formatSize(bytes);
  return /^\d+$/.test(text) ? bytes : text;
}

/** The yaml package, loaded on first use (see the top of this file). */
function yamlPackage(): typeof import("yaml") {
  return require("yaml") as typeof import("yaml");
}

/** `text` as the yaml package parses it: the syntax tree (with its errors), and the line of an offset. */
function yamlDocument(text: string) {
  const yaml = yamlPackage();
  const lines = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { lineCounter: lines, prettyErrors: false });
  return { yaml, doc, lineOf: (offset: number) => lines.linePos(offset).line };
}

/** Throws a ConfigError listing what the yaml package finds wrong in `text` (syntax, repeated keys), each on its line. */
function throwYamlErrors(text: string, fileName: string): void {
  const { doc, lineOf } = yamlDocument(text);
  if (doc.errors.length === 0) return;
  throw new ConfigError(
    doc.errors.map((error) => ({ file: fileName, line: lineOf(error.pos[0]), message: `invalid YAML: ${error.message}` })),
  );
}

const ITEM_MARKER = /^-(?:\s+|$)/;
const KEY = /^("[^"]*"|'[^']*'|[^\s#"'{[\]},&*!|>%@`][^#]*?)\s*:(?:\s+|$)(.*)$/;

/**
 * Whether a block mapping in `text` may have some key twice, which YAML forbids and Bun.YAML lets the last
 * one win. A line scanner that errs towards yes, since yes only has the yaml package check the file: keys at
 * the start of a line (after any `- ` item markers) are collected per mapping, by column; the text of block
 * scalars is skipped, and flow collections are not looked into.
 */
function mayRepeatKey(text: string): boolean {
  // The mappings open at the current line, innermost last.
  const open: { column: number; keys: Set<string> }[] = [];
  let scalarIndent = -1;
  for (const line of text.split("\n")) {
    const indent = line.search(/\S/);
    if (indent < 0 || line[indent] === "#") continue;
    if (scalarIndent >= 0 && indent > scalarIndent) continue;
    scalarIndent = -1;
    let column = indent;
    let rest = line.slice(indent);
    let item = false;
    for (let m = ITEM_MARKER.exec(rest); m !== null; m = ITEM_MARKER.exec(rest)) {
      item = true;
      column += m[0].length;
      rest = rest.slice(m[0].length);
    }
    // A new item closes whatever was open inside the previous one.
    if (item) while (open.length > 0 && open[open.length - 1].column > indent) open.pop();
    const key = KEY.exec(rest);
    if (key === null) continue;
    while (open.length > 0 && open[open.length - 1].column > column) open.pop();
    let mapping = open.at(-1);
    if (mapping === undefined || mapping.column < column) open.push((mapping = { column, keys: new Set() }));
    const name = key[1].replace(/^(["'])(.*)\1$/, "$2");
    if (mapping.keys.has(name)) return true;
    mapping.keys.add(name);
    if (/^[|>]/.test(key[2])) scalarIndent = indent;
  }
  return false;
}

/** Where a problem is in the file: the key path to it, and whether it is about the key rather than its value. */
interface Where {
  path: readonly (string | number)[];
  key: boolean;
}

/** The whole file. */
const ROOT: Where = { path: [], key: false };

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An empty value (`key:` with nothing after it, or `~`). */
function isEmpty(value: unknown): boolean {
  return value === null || value === undefined;
}

/** The file being read: collects problems, and places them on their lines once reading is done. */
class Source {
  readonly problems: { where: Where | undefined; path: string; message: string }[] = [];

  constructor(
    private readonly file: string,
    private readonly text: string,
  ) {}

  report(where: Where | undefined, path: string, message: string): void {
    this.problems.push({ where, path, message });
  }

  /** The parsed value, or undefined once the problem is reported. */
  convert<T>(value: unknown, where: Where, path: string, parse: (value: unknown) => T): T | undefined {
    try {
      return parse(value);
    } catch (error) {
      if (!(error instanceof ValueError)) throw error;
      this.report(where, path, error.message);
      return undefined;
    }
  }

  /** The problems with their lines, in line order. */
  locatedProblems(): ConfigProblem[] {
    const lineOf = lineLocator(this.text);
    return this.problems
      .map(({ where, path, message }) => ({
        file: this.file,
        line: where === undefined ? undefined : lineOf(where),
        path: path === "" ? undefined : path,
        message,
      }))
      .toSorted((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  }
}

/** Finds where a key path is in the yaml package's syntax tree of `text`: its line, or undefined. */
function lineLocator(text: string): (where: Where) => number | undefined {
  const { yaml, doc, lineOf } = yamlDocument(text);
  const resolve = (node: unknown): unknown => (yaml.isAlias(node) ? node.resolve(doc) : node);
  const keyName = (key: unknown) => (yaml.isScalar(key) ? String(key.value) : String(key));
  return ({ path, key }) => {
    let node = resolve(doc.contents);
    let pair: Pair<unknown, unknown> | undefined;
    // The last node with a position on the way: for a list item that has none (`-` alone), the list.
    let near: unknown = node;
    for (const step of path) {
      if (typeof step === "number") {
        if (!yaml.isSeq(node)) return undefined;
        pair = undefined;
        node = resolve(node.items[step]);
      } else {
        if (!yaml.isMap(node)) return undefined;
        pair = node.items.find((p) => keyName(p.key) === step);
        if (pair === undefined) return undefined;
        near = pair.key;
        node = resolve(pair.value);
      }
      if (yaml.isNode(node)) near = node;
    }
    // An empty value sits at the end of its line: point at its key instead.
    const empty = !yaml.isNode(node) || (yaml.isScalar(node) && node.value === null);
    const at = key || empty ? (pair?.key ?? near) : node;
    const offset = yaml.isNode(at) ? (at as Node).range?.[0] : undefined;
    return offset === undefined ? undefined : lineOf(offset);
  };
}

/**
 * Reads one YAML mapping against the keys the contract names. Each read records its key as known, so that
 * finish() can report the keys nobody asked for as unknown, with a suggestion when one looks like a typo.
 * Invalid values are reported and replaced by their defaults, so that one pass finds every problem.
 */
class MapReader {
  private readonly known: string[] = [];
  /** Keys whose value was reported invalid: a cross-key problem() about them would only repeat it. */
  private readonly invalid = new Set<string>();

  constructor(
    private readonly source: Source,
    /** Where this mapping is in the file. */
    private readonly steps: readonly (string | number)[],
    private readonly map: Mapping | undefined,
    /** Where the section itself is, for problems about keys it lacks. */
    private readonly at: Where | undefined,
  ) {}

  value<T>(key: string, fallback: T, parse: (value: unknown) => T): T {
    const found = this.take(key);
    if (found === undefined) return fallback;
    const value = this.source.convert(found, this.valueAt(key), this.pathOf(key), parse);
    if (value === undefined) this.invalid.add(key);
    return value ?? fallback;
  }

  /** A key with no default, as in a webhook entry; undefined when missing or invalid (reported either way). */
  required<T>(key: string, parse: (value: unknown) => T): T | undefined {
    const found = this.take(key);
    if (found === undefined) {
      this.source.report(this.at, this.pathOf(key), "required key is missing");
      return undefined;
    }
    return this.source.convert(found, this.valueAt(key), this.pathOf(key), parse);
  }

  /** A nested mapping; absent or empty, its keys all take their defaults. */
  section<T>(key: string, build: (reader: MapReader) => T): T {
    const found = this.take(key);
    const path = this.pathOf(key);
    if (found !== undefined && !isMapping(found) && !isEmpty(found)) {
      this.source.report(this.valueAt(key), path, `expected a mapping of settings, got ${describeValue(found)}`);
    }
    const at = found === undefined ? undefined : this.keyAt(key);
    const reader = new MapReader(this.source, [...this.steps, key], isMapping(found) ? found : undefined, at);
    const result = build(reader);
    reader.finish();
    return result;
  }

  /** A list of scalars; invalid items are reported and left out. An empty value is an empty list. */
  list<T>(key: string, fallback: T[], parseItem: (value: unknown) => T): T[] {
    const items = this.items(key);
    if (items === undefined) return fallback;
    const result: T[] = [];
    items.forEach((item, i) => {
      const value = this.source.convert(item, this.itemAt(key, i), `${this.pathOf(key)}[${i}]`, parseItem);
      if (value !== undefined) result.push(value);
    });
    return result;
  }

  /**
   * A list of small mappings such as `- { event: publish_start, url: ... }`, each read by `build`; absent,
   * none. With `fromScalar`, an item may also be a plain value (relay.destinations: a URL or `{ url, ... }`).
   */
  listOfSections<T>(
    key: string,
    build: (reader: MapReader) => T | undefined,
    fromScalar?: (value: unknown) => T,
  ): T[] {
    const items = this.items(key);
    if (items === undefined) return [];
    const result: T[] = [];
    items.forEach((item, i) => {
      const path = `${this.pathOf(key)}[${i}]`;
      const at = this.itemAt(key, i);
      let value: T | undefined;
      if (isMapping(item)) {
        const reader = new MapReader(this.source, at.path, item, at);
        value = build(reader);
        reader.finish();
      } else if (fromScalar !== undefined) {
        value = this.source.convert(item, at, path, fromScalar);
      } else {
        this.source.report(at, path, `expected a mapping, got ${describeValue(item)}`);
      }
      if (value !== undefined) result.push(value);
    });
    return result;
  }

  /** A mapping of free-form keys, such as auth.tokens. */
  record<T>(
    key: string,
    fallback: Record<string, T>,
    parseKey: (name: unknown) => string,
    parseValue: (value: unknown) => T,
  ): Record<string, T> {
    const found = this.take(key);
    if (found === undefined) return fallback;
    const path = this.pathOf(key);
    if (isEmpty(found)) return {};
    if (!isMapping(found)) {
      this.source.report(this.valueAt(key), path, `expected a mapping, got ${describeValue(found)}`);
      this.invalid.add(key);
      return fallback;
    }
    const entries: [string, T][] = [];
    for (const [name, value] of Object.entries(found)) {
      const steps = [...this.steps, key, name];
      const parsedKey = this.source.convert(name, { path: steps, key: true }, `${path}.${name}`, parseKey);
      const parsedValue = this.source.convert(value, { path: steps, key: false }, `${path}.${name}`, parseValue);
      if (parsedKey !== undefined && parsedValue !== undefined) entries.push([parsedKey, parsedValue]);
      else this.invalid.add(key);
    }
    // fromEntries defines own properties, so even a "__proto__" key could not reach the prototype.
    return Object.fromEntries(entries);
  }

  /**
   * A problem that spans keys, e.g. a mode that needs another key: reported at `key`, else `near`, else at
   * the section. Skipped when `key` already has a problem of its own.
   */
  problem(key: string, message: string, near: string): void {
    if (this.invalid.has(key)) return;
    const at = this.has(key) ? this.keyAt(key) : this.has(near) ? this.keyAt(near) : this.at;
    this.source.report(at, this.pathOf(key), message);
  }

  /**
   * Runs a check that reads what `key` names (a file), reporting any Error it throws at that key; the
   * check's result, or undefined once reported. Skipped when the key already has a problem of its own.
   */
  check<T>(key: string, read: () => T): T | undefined {
    if (this.invalid.has(key)) return undefined;
    try {
      return read();
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      this.source.report(this.has(key) ? this.valueAt(key) : this.at, this.pathOf(key), error.message);
      this.invalid.add(key);
      return undefined;
    }
  }

  finish(): void {
    for (const name of Object.keys(this.map ?? {})) {
      if (this.known.includes(name)) continue;
      const near = suggest(name, this.known);
      const hint = near === undefined ? "" : ` (did you mean ${near}?)`;
      this.source.report(this.keyAt(name), this.pathOf(name), `unknown key${hint}`);
    }
  }

  /** The value of `key`, recorded as known; undefined when the mapping does not have it. */
  private take(key: string): unknown {
    this.known.push(key);
    return this.has(key) ? this.map![key] : undefined;
  }

  /** An own key: a key such as "constructor" is not inherited from Object. */
  private has(key: string): boolean {
    return this.map !== undefined && Object.hasOwn(this.map, key);
  }

  private items(key: string): unknown[] | undefined {
    const found = this.take(key);
    if (found === undefined) return undefined;
    if (isEmpty(found)) return [];
    if (!Array.isArray(found)) {
      this.source.report(this.valueAt(key), this.pathOf(key), `expected a list, got ${describeValue(found)}`);
      return undefined;
    }
    return found;
  }

  private keyAt(key: string): Where {
    return { path: [...this.steps, key], key: true };
  }

  private valueAt(key: string): Where {
    return { path: [...this.steps, key], key: false };
  }

  private itemAt(key: string, i: number): Where {
    return { path: [...this.steps, key, i], key: false };
  }

  private pathOf(key: string): string {
    const path = this.steps.map((s) => (typeof s === "number" ? `[${s}]` : `.${s}`)).join("");
    return `${path}.${key}`.replace(/^\./, "");
  }
}
