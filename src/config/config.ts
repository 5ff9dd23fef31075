/**
 * The one typed Config every part of the server is handed, its built-in defaults (exactly the operator
 * contract's), and ConfigError, the error for operator mistakes that the CLI turns into exit code 2.
 */
import type { AuthSettings } from "../auth/authorizer.ts";
import type { ClusterSettings } from "../cluster/cluster-settings.ts";
import type { HlsSettings } from "../hls/muxers.ts";
import type { RecordingSettings } from "../record/recorder.ts";
import type { RelayDestination } from "../relay/relay.ts";
import { EVENT_TYPES, type EventType } from "../events/events.ts";
import type { LogFormat, LogLevel } from "../logger.ts";

export const PUBLISH_CONFLICTS = ["reject", "replace"] as const;
export type PublishConflict = (typeof PUBLISH_CONFLICTS)[number];

export const AUTH_MODES = ["none", "token", "file", "callback", "sign"] as const;

export const AUTH_ACTIONS = ["publish", "play"] as const;

/** Every event of the contract: hooks subscribe to one of these, or "*". */
export const HOOK_EVENTS = EVENT_TYPES;
export type HookEvent = EventType;
/** What a webhook or script subscribes to: one event, or "*" for all. */
export type HookEventFilter = HookEvent | "*";

export const HOOK_STDIO_MODES = ["off", "json", "env"] as const;
export type HookStdio = (typeof HOOK_STDIO_MODES)[number];

export interface ListenAddress {
  /** "0.0.0.0", "::", a hostname, ...; IPv6 without brackets. */
  host: string;
  /** 0 lets the OS pick a free port. */
  port: number;
}

export interface Webhook {
  event: HookEventFilter;
  url: string;
}

export interface HookScript {
  event: HookEventFilter;
  path: string;
}

export interface Config {
  listen: ListenAddress;
  /** Outbound chunk size, 128..65536. */
  chunkSize: number;
  maxConnections: number;
  /** Bytes; a peer declaring a larger RTMP message is disconnected. */
  maxMessageSize: number;
  streams: {
    publishConflict: PublishConflict;
    gopCache: boolean;
    gopCacheMaxBytes: number;
    maxSubscriberLagMs: number;
  };
  /** statsIntervalMs: a `media stats` line per publishing stream this often; 0 = off. */
  log: { level: LogLevel; format: LogFormat; statsIntervalMs: number };
  timeouts: { handshakeMs: number; readMs: number; writeMs: number; publisherIdleMs: number; shutdownMs: number };
  recording: RecordingSettings;
  relay: { destinations: RelayDestination[] };
  auth: AuthSettings;
  hooks: {
    timeoutMs: number;
    concurrency: number;
    stdio: HookStdio;
    /** When set, every webhook carries X-Rtmp-Signature: sha256=HEX (HMAC of the body). */
    secret: string;
    webhooks: Webhook[];
    scripts: HookScript[];
  };
  /** API, /metrics, dashboard, HTTP-FLV and WS-FLV; off when listen is null. */
  http: { listen: ListenAddress | null; apiToken: string; flv: boolean };
  /** RTMPS ingest and play; off when listen is null. cert and key are PEM file paths. */
  tls: { listen: ListenAddress | null; cert: string; key: string };
  /** HLS and LL-HLS on http.listen. */
  hls: HlsSettings;
  /** Nodes that find each other's streams (Redis, or static origins) and pull them on demand. */
  cluster: ClusterSettings;
  /** Serving processes sharing the listen ports (Linux); 0 = one per core. */
  workers: number;
}

/**
 * The contract's defaults: what the server runs on without --config. Deep-frozen because it is shared;
 * code that needs a Config to change takes `structuredClone(DEFAULT_CONFIG)`.
 */
export const DEFAULT_CONFIG: Config = deepFreeze({
  listen: { host: "0.0.0.0", port: 1935 },
  chunkSize: 4096,
  maxConnections: 10_000,
  maxMessageSize: 16 * 1024 * 1024,
  streams: {
    publishConflict: "reject",
    gopCache: true,
    gopCacheMaxBytes: 16 * 1024 * 1024,
    maxSubscriberLagMs: 2_000,
  },
  log: { level: "info", format: "json", statsIntervalMs: 30_000 },
  timeouts: { handshakeMs: 5_000, readMs: 90_000, writeMs: 30_000, publisherIdleMs: 10_000, shutdownMs: 10_000 },
  recording: { enabled: false, dir: "recordings", segmentMs: 0, streams: [], format: "flv" },
  relay: { destinations: [] },
  auth: {
    mode: "none",
    actions: ["publish", "play"],
    tokens: {},
    file: "",
    callbackUrl: "",
    callbackTimeoutMs: 5_000,
    secret: "",
  },
  hooks: { timeoutMs: 30_000, concurrency: 10, stdio: "off", secret: "", webhooks: [], scripts: [] },
  http: { listen: null, apiToken: "", flv: true },
  tls: { listen: null, cert: "", key: "" },
  hls: { enabled: false, lowLatency: true, segmentMs: 1_000, partMs: 200, window: 7, streams: [] },
  cluster: { nodeId: "", advertise: "", redis: "", origins: [], secret: "", pullIdleMs: 10_000 },
  workers: 1,
});

/** One operator mistake, located as precisely as known: `file:line: key.path: message`. */
export interface ConfigProblem {
  file?: string;
  line?: number;
  /** The contract's snake_case key path (`timeouts.read`), or a flag (`--listen`). */
  path?: string;
  message: string;
}

export function formatProblem(problem: ConfigProblem): string {
  let where = problem.file ?? "";
  if (problem.file !== undefined && problem.line !== undefined) where += `:${problem.line}`;
  if (problem.path !== undefined) where += where === "" ? problem.path : `: ${problem.path}`;
  return where === "" ? problem.message : `${where}: ${problem.message}`;
}

/** Bad flags or a bad config file: every problem found, one per line of the message. The CLI exits 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
