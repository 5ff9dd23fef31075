/**
 * Pull on demand: the cluster's StreamSource. A stream asked for here and published nowhere here is looked
 * up (the shared registry when there is one, else cluster.origins in order) and pulled once for all its
 * viewers (pull.ts). One attempt per demand, and a key whose attempt failed is not tried again for a second;
 * while players wait for a stream, it is asked for again every 2 s, so a republish anywhere is found.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { shownTemplate } from "../relay/destination.ts";
import { parseRtmpUrl, type RtmpUrl } from "../relay/rtmp-client.ts";
import { signStreamKey } from "../shared/signature.ts";
import { parseStreamName } from "../shared/stream-name.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import type { StreamSource } from "../streams/stream-source.ts";
import { Pull, type PullSettings, type PullSource } from "./pull.ts";
import type { ClusterRegistry } from "./registry.ts";
import { ViewerCount } from "./viewer-count.ts";

export interface PullsSettings extends PullSettings {
  /** cluster.origins: RTMP base URLs tried in order when there is no shared registry. */
  origins: readonly string[];
  /** cluster.secret: each pull's play is signed with it; "" = unsigned. */
  secret: string;
}

export interface PullsContext {
  registry: StreamRegistry;
  /** The shared registry (Redis, or this machine's supervisor), or null: cluster.origins then. */
  cluster: ClusterRegistry | null;
  events: EventChannel;
  log: Logger;
}

/** A live pull, for /api/cluster. */
export interface PullStatus {
  streamKey: string;
  /** The owner's node id, or the origin URL. */
  from: string;
  /** Viewers here, every protocol counted. */
  players: number;
}

/** How often players still waiting for a stream ask for it again. */
const REDEMAND_MS = 2_000;
/** After a failed attempt, further demands for the key are ignored this long (no retry storm). */
const NEGATIVE_MS = 1_000;
/** A pull's signature is valid this long: it is checked once, at play, so this only covers clocks set apart. */
const SIGNATURE_VALID_S = 300;

export class Pulls implements StreamSource {
  /** Attempting or live, by stream key: at most one per key. */
  private readonly pulls = new Map<string, Pull>();
  /** performance.now() of each key's last failed attempt, kept NEGATIVE_MS. */
  private readonly failedAt = new Map<string, number>();
  private readonly viewers: ViewerCount;
  private readonly timer: ReturnType<typeof setInterval>;
  private nextId = 1;
  private stopping = false;

  constructor(
    private readonly settings: PullsSettings,
    private readonly context: PullsContext,
  ) {
    this.viewers = new ViewerCount(context.events, (key, count) => this.pulls.get(key)?.viewers(count));
    this.timer = setInterval(() => this.tick(), REDEMAND_MS);
  }

  demand(key: string): void {
    if (this.stopping || this.pulls.has(key)) return;
    if (performance.now() - (this.failedAt.get(key) ?? -Infinity) < NEGATIVE_MS) return;
    const name = parseStreamName("", key);
    if (name === null) return;
    const id = `p${String(this.nextId++).padStart(6, "0")}`;
    const context = { ...this.context, viewers: (k: string) => this.viewers.of(k) };
    const pull = new Pull(id, name, this.settings, context, (p, live) => this.ended(p, live));
    this.pulls.set(key, pull);
    void this.sources(key).then((sources) => pull.run(sources));
  }

  /** The live pulls. */
  list(): PullStatus[] {
    const live = [...this.pulls.values()].filter((pull) => pull.live);
    return live.map((pull) => ({ streamKey: pull.key, from: pull.from, players: this.viewers.of(pull.key) }));
  }

  /** Shutdown: no more demands; every pull ends (its players told). Resolves once their connections are gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.viewers.close();
    const pulls = [...this.pulls.values()];
    for (const pull of pulls) pull.end("server shutting down");
    await Promise.all(pulls.map((pull) => pull.gone));
  }

  /** Where `key` may be pulled from, in order. */
  private async sources(key: string): Promise<PullSource[]> {
    const { cluster, log } = this.context;
    const nowSec = Math.floor(Date.now() / 1000);
    const sign = this.settings.secret === "" ? "" : `?sign=${signStreamKey(key, this.settings.secret, nowSec + SIGNATURE_VALID_S)}`;
    const candidates: { from: string; base: string }[] = [];
    if (cluster !== null) {
      const owner = await cluster.lookup(key).catch(() => null);
      if (owner !== null) candidates.push({ from: owner.nodeId, base: owner.advertise });
    } else {
      for (const origin of this.settings.origins) candidates.push({ from: shownTemplate(origin), base: origin });
    }
    const sources: PullSource[] = [];
    for (const { from, base } of candidates) {
      const target = pullTarget(base, key, sign);
      if (target === null) log.warn("pull source is not an rtmp:// URL", { stream_key: key, from });
      else sources.push({ from, target });
    }
    return sources;
  }

  private ended(pull: Pull, live: boolean): void {
    if (this.pulls.get(pull.key) === pull) this.pulls.delete(pull.key);
    if (!live) this.failedAt.set(pull.key, performance.now());
  }

  /** Every REDEMAND_MS: forget old failures, end silent pulls, ask again for what players wait for. */
  private tick(): void {
    const now = performance.now();
    for (const [key, at] of this.failedAt) if (now - at >= NEGATIVE_MS) this.failedAt.delete(key);
    for (const pull of [...this.pulls.values()]) pull.tick(now);
    // The registry asks for those only that nothing publishes here.
    for (const key of [...this.viewers.keys()]) this.context.registry.demand(key);
  }
}

/**
 * What to play `key` at on the node whose RTMP base URL is `base`: the key's first segment is the app, the
 * rest the name, `query` after it, both as they are (not URL-encoded as in tcUrl: they must arrive as the key).
 */
function pullTarget(base: string, key: string, query: string): RtmpUrl | null {
  const slash = key.indexOf("/");
  const app = slash < 0 ? key : key.slice(0, slash);
  try {
    return { ...parseRtmpUrl(`${base}/${encodeURIComponent(app)}`), app, name: (slash < 0 ? "" : key.slice(slash + 1)) + query };
  } catch {
    return null;
  }
}
