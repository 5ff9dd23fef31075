/**
 * Pushes published streams to the relay destinations that select them: one RelayPush per stream and
 * destination, made when publishing starts and ended when it stops. Keeps the per-destination state and
 * counters for the API and /metrics, and stops relay loops with a hop count carried in connect.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { PublishedStream, StreamOutput } from "../streams/output.ts";
import { keyMatcher } from "../streams/key-pattern.ts";
import { type ResolvedDestination, resolveDestination, shownTemplate } from "./destination.ts";
import { type RelayCounters, RelayPush, type RelayState } from "./relay-push.ts";

export type { RelayCounters, RelayState } from "./relay-push.ts";

/**
 * A publication that already came through this many relays is not relayed further: a destination that
 * leads back to this server (directly or through others like it) makes a chain this long, not a loop.
 */
export const MAX_RELAY_HOPS = 3;

/** Deadline for a destination's TCP connect + handshake + connect reply, and for each later reply. */
const DEFAULT_REPLY_TIMEOUT_MS = 5_000;

export interface RelayDestination {
  /** rtmp:// or rtmps:// URL as written, possibly holding "{app}" / "{name}" placeholders. */
  url: string;
  /** Stream keys or globs this destination receives; empty = every stream. */
  streams: string[];
}

export interface RelaySettings {
  destinations: RelayDestination[];
  /** Chunk size announced to destinations. */
  chunkSize: number;
  maxLagMs: number;
  writeTimeoutMs: number;
  /** Default 5 s. */
  replyTimeoutMs?: number;
}

/** One destination of one stream, for GET /api/streams (`relays`). */
export interface RelayStatus extends RelayCounters {
  /** Without its query or login. */
  url: string;
  state: RelayState;
}

/** Over every destination connection since start (counters never go down), for /metrics. */
export interface RelayTotals extends RelayCounters {
  /** Destinations of live streams now, by state. */
  destinations: Record<RelayState, number>;
}

export class Relay {
  private readonly selects: ((key: string) => boolean)[];
  /** Pushes not yet gone, by stream key. */
  private readonly pushes = new Map<string, Set<RelayPush>>();
  /** Counters of the pushes that are gone. */
  private readonly retired: RelayCounters = { reconnects: 0, framesDropped: 0, bytesSent: 0 };
  private sweep: ReturnType<typeof setInterval> | null = null;
  private stopping = false;
  private nextId = 1;

  constructor(
    readonly settings: RelaySettings,
    readonly log: Logger,
    readonly events: EventChannel,
  ) {
    this.selects = settings.destinations.map((d) => keyMatcher(d.streams));
  }

  /** One output per destination that selects this publication. */
  outputs(stream: PublishedStream): StreamOutput[] {
    const selected = this.settings.destinations.filter((_, i) => this.selects[i](stream.key));
    if (this.stopping || selected.length === 0) return [];
    if (stream.relayHops >= MAX_RELAY_HOPS) {
      this.log.warn("not relayed: the stream already came through the most relays allowed", {
        stream_key: stream.key,
        relay_hops: stream.relayHops,
        max: MAX_RELAY_HOPS,
      });
      return [];
    }
    return selected.flatMap((destination) => this.push(stream, destination) ?? []);
  }

  /** The destinations of a stream now (for GET /api/streams). */
  status(streamKey: string): RelayStatus[] {
    return [...(this.pushes.get(streamKey) ?? [])].map((p) => ({ url: p.url, state: p.state, ...p.counters }));
  }

  totals(): RelayTotals {
    const totals: RelayTotals = {
      ...this.retired,
      destinations: { connecting: 0, live: 0, retrying: 0, stopped: 0 },
    };
    for (const set of this.pushes.values()) {
      for (const push of set) {
        const c = push.counters;
        totals.reconnects += c.reconnects;
        totals.framesDropped += c.framesDropped;
        totals.bytesSent += c.bytesSent;
        totals.destinations[push.state]++;
      }
    }
    return totals;
  }

  /** Graceful shutdown: unpublish and close every destination connection by `deadlineMs` (performance.now()). */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    const all = [...this.pushes.values()].flatMap((set) => [...set]);
    const done = Promise.all(all.map((push) => push.stop("server shutting down")));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs - performance.now()))));
    await Promise.race([done, late]);
    clearTimeout(timer);
    for (const push of all) push.abort();
    await done;
    this.stopSweep();
  }

  private push(stream: PublishedStream, destination: RelayDestination): RelayPush | null {
    let resolved: ResolvedDestination;
    try {
      resolved = resolveDestination(destination.url, stream.app, stream.name);
    } catch (err) {
      this.log.error("relay destination unusable for this stream", {
        stream_key: stream.key,
        url: shownTemplate(destination.url),
        error: (err as Error).message,
      });
      return null;
    }
    const s = this.settings;
    const settings = {
      chunkSize: s.chunkSize,
      maxLagMs: s.maxLagMs,
      writeTimeoutMs: s.writeTimeoutMs,
      replyTimeoutMs: s.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS,
      relayHops: stream.relayHops + 1,
    };
    const id = `r${String(this.nextId++).padStart(6, "0")}`;
    const push = new RelayPush(id, resolved, stream, settings, this.log, this.events, (p) => this.gone(p));
    let set = this.pushes.get(stream.key);
    if (set === undefined) this.pushes.set(stream.key, (set = new Set()));
    set.add(push);
    this.startSweep();
    return push;
  }

  /** A push ended and its last connection closed: its counters move to the retired totals. */
  private gone(push: RelayPush): void {
    const set = this.pushes.get(push.source.key);
    if (set === undefined || !set.delete(push)) return;
    if (set.size === 0) this.pushes.delete(push.source.key);
    const c = push.counters;
    this.retired.reconnects += c.reconnects;
    this.retired.framesDropped += c.framesDropped;
    this.retired.bytesSent += c.bytesSent;
    if (this.pushes.size === 0) this.stopSweep();
  }

  /** One timer for every push's write deadline, running only while there are pushes. */
  private startSweep(): void {
    if (this.sweep !== null) return;
    const every = Math.min(1000, Math.max(50, this.settings.writeTimeoutMs / 4));
    this.sweep = setInterval(() => {
      const now = performance.now();
      for (const set of this.pushes.values()) for (const push of set) push.tick(now);
    }, every);
  }

  private stopSweep(): void {
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
  }
}
