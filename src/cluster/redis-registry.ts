/**
 * The cluster registry kept in Redis (cluster.redis), through Bun's built-in RedisClient. Each node refreshes a
 * record with a short TTL and the claims of the streams it publishes; the key layout is in the README. Redis
 * unreachable: claims pass, lookups find nothing, at once, and the node registers again when Redis returns.
 */
import { RedisClient } from "bun";
import type { Logger } from "../logger.ts";
import type { ClaimResult, ClusterRegistry, NodeView, Owner, RegistryState } from "./registry.ts";

/** Every key this registry writes starts with this. */
const KEY_PREFIX = "rtmp:";
/** `rtmp:node:{node_id}`: JSON {advertise, load}, alive while its TTL runs. */
export const NODE_PREFIX = `${KEY_PREFIX}node:`;
/** `rtmp:stream:{app/name}`: the owner's node id. */
export const STREAM_PREFIX = `${KEY_PREFIX}stream:`;
/** Pub/sub channel: a claim (its Redis key) was taken over, so its old owner checks it now rather than at its next beat. */
const LOST_CHANNEL = `${KEY_PREFIX}lost`;

export interface RedisTimings {
  /** How often the node record and the claims are refreshed. */
  heartbeatMs: number;
  /** A node whose record is this old is dead, and its claims void. */
  nodeTtlMs: number;
  /** A claim nobody refreshes ends by itself after this. */
  claimTtlMs: number;
  /** The longest any command may take: past it Redis counts as unreachable (a player never waits longer). */
  commandTimeoutMs: number;
  /** Redis unreachable: how often to try again. */
  retryMs: number;
}

const DEFAULT_REDIS_TIMINGS: Readonly<RedisTimings> = Object.freeze({
  heartbeatMs: 3_000,
  nodeTtlMs: 10_000,
  claimTtlMs: 15_000,
  commandTimeoutMs: 500,
  retryMs: 1_000,
});

export interface RedisRegistrySettings {
  /** redis:// or rediss:// URL (the database in its path). */
  url: string;
  nodeId: string;
  /** This node's RTMP base URL, for the others to pull from. */
  advertise: string;
  timings?: Partial<RedisTimings>;
}

/**
 * Claim KEYS[1] for ARGV[1] (PX ARGV[2]) unless another node holds it and that node's record (ARGV[4] .. owner)
 * is alive; with ARGV[3] == "1" take it over from a live owner, and tell it on ARGV[5]. Returns nil when the
 * claim is ours, else {owner, owner's record}. One script, so that check and set are one atomic step.
 */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  local record = redis.call('GET', ARGV[4] .. owner)
  if record then
    if ARGV[3] ~= '1' then return {owner, record} end
    redis.call('PUBLISH', ARGV[5], KEYS[1])
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`;

/** Delete KEYS[1] only while it is ARGV[1]'s: a node never removes another's claim. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** The owner of KEYS[1] and its record, when that is a live node other than ARGV[1]; else nil. */
const LOOKUP = `
local owner = redis.call('GET', KEYS[1])
if not owner or owner == ARGV[1] then return false end
local record = redis.call('GET', ARGV[2] .. owner)
if not record then return false end
return {owner, record}`;

/** A longer wait to connect than for a command: a TLS handshake to a remote Redis takes a few round trips. */
const CONNECT_TIMEOUT_MS = 2_000;
/** Nodes, and claimed streams, that nodes() lists at most. */
const MAX_LISTED = 10_000;

export class RedisRegistry implements ClusterRegistry {
  readonly nodeId: string;
  onLost: ((key: string) => void) | null = null;
  private current: RegistryState = "down";
  private readonly timings: RedisTimings;
  /** Stream keys this node publishes, claimed or to be claimed once Redis answers. */
  private readonly held = new Set<string>();
  private client: RedisClient | null = null;
  private subscriber: RedisClient | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private beating = false;
  private stopped = false;
  /** The unreachable state was logged: retries stay quiet until Redis answers again. */
  private reported = false;
  /** The URL without user or password, for logs. */
  private readonly shownUrl: string;

  constructor(
    private readonly settings: RedisRegistrySettings,
    private readonly log: Logger,
    /** This node's load for its record (open connections). */
    private readonly load: () => number,
  ) {
    this.nodeId = settings.nodeId;
    this.timings = { ...DEFAULT_REDIS_TIMINGS, ...settings.timings };
    const url = new URL(settings.url);
    this.shownUrl = `${url.protocol}//${url.host}${url.pathname}`;
  }

  get state(): RegistryState {
    return this.current;
  }

  start(): void {
    if (this.heartbeat !== null || this.stopped) return;
    this.heartbeat = setInterval(() => void this.beat(), this.timings.heartbeatMs);
    void this.connect();
  }

  async claim(key: string, replace: boolean): Promise<ClaimResult> {
    this.held.add(key);
    if (this.client === null) return { ok: true };
    try {
      const owner = await this.claimScript(key, replace);
      if (owner === null) return { ok: true };
      // Another node's: nothing for this one to refresh.
      this.held.delete(key);
      return { ok: false, owner };
    } catch {
      return { ok: true };
    }
  }

  async release(key: string): Promise<void> {
    if (!this.held.delete(key) || this.client === null) return;
    await this.command("EVAL", [RELEASE, "1", STREAM_PREFIX + key, this.nodeId]).catch(() => {});
  }

  async lookup(key: string): Promise<Owner | null> {
    if (this.client === null) return null;
    try {
      const found: [string, string] | null = await this.command("EVAL", [LOOKUP, "1", STREAM_PREFIX + key, this.nodeId, NODE_PREFIX]);
      return found === null ? null : ownerOf(found[0], found[1]);
    } catch {
      return null;
    }
  }

  async nodes(): Promise<NodeView[]> {
    const self: NodeView = { nodeId: this.nodeId, advertise: this.settings.advertise, streams: [...this.held].sort() };
    if (this.client === null) return [self];
    try {
      const nodeKeys = await this.scan(`${NODE_PREFIX}*`);
      const streamKeys = await this.scan(`${STREAM_PREFIX}*`);
      const records: (string | null)[] = nodeKeys.length === 0 ? [] : await this.command("MGET", nodeKeys);
      const owners: (string | null)[] = streamKeys.length === 0 ? [] : await this.command("MGET", streamKeys);
      const streams = new Map<string, string[]>();
      streamKeys.forEach((k, i) => {
        const id = owners[i];
        if (id === null || id === undefined) return;
        const list = streams.get(id) ?? [];
        if (list.length === 0) streams.set(id, list);
        list.push(k.slice(STREAM_PREFIX.length));
      });
      const views: NodeView[] = [];
      nodeKeys.forEach((k, i) => {
        const record = records[i];
        if (record === null || record === undefined) return;
        const nodeId = k.slice(NODE_PREFIX.length);
        views.push({ nodeId, advertise: ownerOf(nodeId, record).advertise, streams: (streams.get(nodeId) ?? []).sort() });
      });
      return views.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    } catch {
      return [self];
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat ?? undefined);
    clearTimeout(this.retry ?? undefined);
    if (this.client !== null) {
      const keys = [...this.held];
      this.held.clear();
      await Promise.allSettled([
        ...keys.map((key) => this.command("EVAL", [RELEASE, "1", STREAM_PREFIX + key, this.nodeId])),
        this.command("DEL", [NODE_PREFIX + this.nodeId]),
      ]);
    }
    this.disconnect();
    this.current = "down";
  }

  /** One connection attempt; on failure the next is scheduled. */
  private async connect(): Promise<void> {
    this.retry = null;
    const options = { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: CONNECT_TIMEOUT_MS };
    const client = new RedisClient(this.settings.url, options);
    const subscriber = new RedisClient(this.settings.url, options);
    try {
      await Promise.all([client.connect(), subscriber.connect()]);
      await subscriber.subscribe(LOST_CHANNEL, (claimKey) => {
        const key = claimKey.slice(STREAM_PREFIX.length);
        if (this.held.has(key)) this.refresh(key).catch(() => {});
      });
    } catch (error) {
      client.close();
      subscriber.close();
      return this.unreachable(error);
    }
    if (this.stopped) {
      client.close();
      subscriber.close();
      return;
    }
    this.client = client;
    this.subscriber = subscriber;
    const lost = () => this.dropped(client, "connection closed");
    client.onclose = lost;
    subscriber.onclose = lost;
    this.current = "up";
    this.reported = false;
    this.log.info("cluster registry up", { redis: this.shownUrl, node_id: this.nodeId, streams: this.held.size });
    await this.beat();
  }

  /** The connection `client` belongs to broke or stopped answering: down until a retry connects. */
  private dropped(client: RedisClient, reason: string): void {
    if (this.client !== client) return;
    this.disconnect();
    this.current = "down";
    this.unreachable(new Error(reason));
  }

  private unreachable(error: unknown): void {
    if (!this.reported) {
      this.reported = true;
      const reason = error instanceof Error ? error.message : String(error);
      this.log.warn("cluster registry unreachable: publishing and playing go on here, other nodes' streams are not found", {
        redis: this.shownUrl,
        reason,
        retry_ms: this.timings.retryMs,
      });
    }
    if (!this.stopped && this.retry === null) this.retry = setTimeout(() => void this.connect(), this.timings.retryMs);
  }

  private disconnect(): void {
    const { client, subscriber } = this;
    this.client = this.subscriber = null;
    client?.close();
    subscriber?.close();
  }

  /** Refresh this node's record, then every claim it holds (claims lost to another node are reported). */
  private async beat(): Promise<void> {
    if (this.client === null || this.beating) return;
    this.beating = true;
    try {
      const record = JSON.stringify({ advertise: this.settings.advertise, load: this.load() });
      await this.command("SET", [NODE_PREFIX + this.nodeId, record, "PX", String(this.timings.nodeTtlMs)]);
      await Promise.all([...this.held].map((key) => this.refresh(key)));
    } catch {
      // Unreachable: already reported, and the next connection beats again.
    } finally {
      this.beating = false;
    }
  }

  /** Keep (or take back) the claim of `key`; a live node that took it over meanwhile wins, and it is lost here. */
  private async refresh(key: string): Promise<void> {
    const taken = await this.claimScript(key, false);
    if (taken === null || !this.held.delete(key)) return;
    this.log.warn("stream claim lost: published on another node", { stream_key: key, owner: taken.nodeId });
    this.onLost?.(key);
  }

  /** Null when the claim is this node's now; else the live node that holds it. */
  private async claimScript(key: string, replace: boolean): Promise<Owner | null> {
    const args = [CLAIM, "1", STREAM_PREFIX + key, this.nodeId, String(this.timings.claimTtlMs), replace ? "1" : "0", NODE_PREFIX, LOST_CHANNEL];
    const found: [string, string] | null = await this.command("EVAL", args);
    return found === null ? null : ownerOf(found[0], found[1]);
  }

  /** Keys matching `pattern`, at most MAX_LISTED. */
  private async scan(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch]: [string, string[]] = await this.command("SCAN", [cursor, "MATCH", pattern, "COUNT", "1000"]);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0" && keys.length < MAX_LISTED);
    return keys.slice(0, MAX_LISTED);
  }

  /** One command, answered within commandTimeoutMs; failing or late, Redis counts as unreachable. */
  private async command<T>(name: string, args: string[]): Promise<T> {
    const client = this.client;
    if (client === null) throw new Error("not connected");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timings.commandTimeoutMs} ms`)), this.timings.commandTimeoutMs);
    });
    try {
      return (await Promise.race([client.send(name, args), late])) as T;
    } catch (error) {
      this.dropped(client, error instanceof Error ? error.message : String(error));
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A node record's advertise URL ("" if the record is not ours to read). */
function ownerOf(nodeId: string, record: string): Owner {
  try {
    const parsed: unknown = JSON.parse(record);
    const advertise = typeof parsed === "object" && parsed !== null && "advertise" in parsed ? parsed.advertise : "";
    return { nodeId, advertise: typeof advertise === "string" ? advertise : "" };
  } catch {
    return { nodeId, advertise: "" };
  }
}
