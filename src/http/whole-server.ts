/**
 * The API and /metrics of a server running as several workers describe all of them, whichever worker a request
 * reached: that worker asks the others through the supervisor (each answer bounded by SIBLING_WAIT_MS), merges
 * their views with its own, and names the workers that did not answer in `workers_missing`. It answers the
 * same questions for its siblings from its own state. A stream's HLS is muxed by one worker, chosen by its key:
 * the others pass its requests on to that worker's own loopback HTTP port.
 */
import type { PullStatus } from "../cluster/pulls.ts";
import type { WorkerChannel } from "../cluster/worker-channel.ts";
import type { SiblingQuery } from "../cluster/worker-messages.ts";
import { workerOfConnection } from "../cluster/worker-node.ts";
import { hlsTarget } from "../hls/hls-endpoint.ts";
import { textResponse } from "../shared/http-responses.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import type { ClusterSources } from "./api.ts";
import { mergeExpositions } from "./prometheus-text.ts";
import { type ConnectionView, connectionView, type StreamView, streamViews, type ViewSources } from "./views.ts";

export interface WholeServerSources extends ViewSources {
  registry: StreamRegistry;
  /** This worker's pulls are in `cluster.pulls`; its node id is the `origin` its siblings' pulled copies show. */
  cluster: ClusterSources | null;
  /** This worker's /metrics. */
  metrics(): string;
}

/** A stream as the whole server shows it, with the worker it is published on (or pulled to). */
export type WorkerStream = StreamView & { worker: number };
type WorkerConnection = ConnectionView & { worker: number };

/** Figures that are the same for every worker, or are not a sum: merged with these, the others summed. */
const NOT_SUMMED: Record<string, (a: number, b: number) => number> = {
  rtmp_build_info: Math.max,
  rtmp_start_time_seconds: Math.min,
  rtmp_cluster_registry_up: Math.min,
};

export class WholeServer {
  /** The workers' own HTTP ports, by index, as the supervisor last told them. */
  private readonly httpPorts = new Map<number, number | null>();

  constructor(
    private readonly channel: WorkerChannel,
    private readonly sources: WholeServerSources,
  ) {
    channel.answer((query) => this.answer(query));
  }

  /** Every stream once: a copy a worker pulled from another is folded into the owner's entry. */
  async streams(): Promise<{ streams: WorkerStream[]; workers_missing: readonly number[] }> {
    const { answers, missing } = await this.channel.ask({ what: "streams" });
    const all = [this.ownStreams(), ...answers.map((a) => a.result as OwnStreams)];
    return { streams: foldCopies(all), workers_missing: missing };
  }

  async connections(): Promise<{ connections: WorkerConnection[]; workers_missing: readonly number[] }> {
    const { answers, missing } = await this.channel.ask({ what: "connections" });
    const all = [this.ownConnections(), ...answers.map((a) => a.result as WorkerConnection[])];
    return { connections: all.flat().sort((a, b) => a.worker - b.worker), workers_missing: missing };
  }

  /** Whether `id` is a connection of another worker (ask that one), not this worker's. */
  elsewhere(id: string): boolean {
    const worker = workerOfConnection(id);
    return worker !== null && worker !== this.channel.index;
  }

  /** Another worker's connection `id`, or null (no such connection, or the worker did not answer). */
  async connection(id: string): Promise<WorkerConnection | null> {
    return (await this.askOwner(id, "connection")) as WorkerConnection | null;
  }

  /** Closes another worker's connection `id`: false if there is none (or the worker did not answer). */
  async close(id: string): Promise<boolean> {
    return (await this.askOwner(id, "close")) === true;
  }

  /** Every worker's pulls (each worker pulls the streams its viewers ask for on its own). */
  async pulls(): Promise<PullStatus[]> {
    const { answers } = await this.channel.ask({ what: "pulls" });
    return [this.ownPulls(), ...answers.map((a) => a.result as PullStatus[])].flat();
  }

  /** The workers as the supervisor sees them, for GET /api/workers. */
  async workers() {
    return (await this.channel.workers()).map((w) => ({ index: w.index, pid: w.pid, state: w.state, restarts: w.restarts, since: new Date(w.since).toISOString() }));
  }

  /**
   * The worker that muxes the HLS of the stream `path` names, when it is another (null: this one, or no stream):
   * a player's requests land on any worker, and must all find the same muxer. Chosen by the stream key.
   */
  hlsHome(path: string): number | null {
    const key = hlsTarget(path)?.name.key;
    if (key === undefined) return null;
    let hash = 2166136261;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 16777619);
    const home = (hash >>> 0) % this.channel.count;
    return home === this.channel.index ? null : home;
  }

  /** `request` passed on to worker `home`'s own HTTP port, as it answers it (503 while that worker is down). */
  async forward(request: Request, url: URL, home: number): Promise<Response> {
    let port = this.httpPorts.get(home) ?? null;
    // Asked again after a failure: the worker may have been restarted, on another port.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (port === null || attempt > 0) port = await this.httpPortOf(home);
      if (port === null) break;
      try {
        return await fetch(`http://127.0.0.1:${port}${url.pathname}${url.search}`, { method: request.method, headers: request.headers, signal: request.signal });
      } catch {
        if (request.signal.aborted) break;
      }
    }
    return textResponse(503, "worker unavailable", { "access-control-allow-origin": "*", "retry-after": "1" });
  }

  /** Worker `index`'s own HTTP port, as the supervisor tells it now. */
  private async httpPortOf(index: number): Promise<number | null> {
    for (const w of await this.channel.workers()) this.httpPorts.set(w.index, w.httpPort);
    return this.httpPorts.get(index) ?? null;
  }

  /** Every worker's figures summed, and how many workers are in them. */
  async metrics(): Promise<string> {
    const [{ answers, missing }, workers] = await Promise.all([this.channel.ask({ what: "metrics" }), this.channel.workers()]);
    const texts = [this.sources.metrics(), ...answers.map((a) => String(a.result))];
    const restarts = workers.reduce((sum, w) => sum + w.restarts, 0);
    const own = [
      "# HELP rtmp_workers Worker processes whose figures this scrape sums.",
      "# TYPE rtmp_workers gauge",
      `rtmp_workers ${texts.length}`,
      "# HELP rtmp_workers_missing Worker processes that did not answer this scrape in time (their figures are left out).",
      "# TYPE rtmp_workers_missing gauge",
      `rtmp_workers_missing ${missing.length}`,
      "# HELP rtmp_worker_restarts_total Workers the supervisor restarted after they died.",
      "# TYPE rtmp_worker_restarts_total counter",
      `rtmp_worker_restarts_total ${restarts}`,
      "",
    ].join("\n");
    return mergeExpositions(texts, NOT_SUMMED) + own;
  }

  private askOwner(id: string, what: string): Promise<unknown> {
    return this.channel.ask({ what, arg: id }, workerOfConnection(id)).then(({ answers }) => answers[0]?.result ?? null);
  }

  /** A sibling's question, answered from this worker's state. */
  private answer(query: SiblingQuery): unknown {
    const c = query.arg === undefined ? undefined : this.sources.connections.get(query.arg);
    switch (query.what) {
      case "streams":
        return this.ownStreams();
      case "connections":
        return this.ownConnections();
      case "metrics":
        return this.sources.metrics();
      case "pulls":
        return this.ownPulls();
      case "connection":
        return c === undefined ? null : { ...connectionView(c), worker: this.channel.index };
      case "close":
        c?.close("closed through the API");
        return c !== undefined;
      default:
        return null;
    }
  }

  private ownStreams(): OwnStreams {
    const worker = this.channel.index;
    return { nodeId: this.sources.cluster?.nodeId ?? "", streams: streamViews(this.sources).map((s) => ({ ...s, worker })) };
  }

  private ownPulls(): readonly PullStatus[] {
    return this.sources.cluster?.pulls.list() ?? [];
  }

  private ownConnections(): WorkerConnection[] {
    return [...this.sources.connections.values()].map((c) => ({ ...connectionView(c), worker: this.channel.index }));
  }
}

/** One worker's streams, and its node id (the origin of the copies its siblings pulled from it). */
export interface OwnStreams {
  nodeId: string;
  streams: WorkerStream[];
}

/**
 * One entry per stream key: the owner's (published there), or the first when every worker pulls it from
 * elsewhere, with the players of the other entries added. A copy pulled from the owner is one RTMP player of
 * it, which is no viewer: that player is taken off.
 */
export function foldCopies(workers: readonly OwnStreams[]): WorkerStream[] {
  const byKey = new Map<string, { entry: WorkerStream; nodeId: string; copies: { entry: WorkerStream; nodeId: string }[] }>();
  for (const { nodeId, streams } of workers) {
    for (const entry of streams) {
      const seen = byKey.get(entry.key);
      if (seen === undefined) byKey.set(entry.key, { entry, nodeId, copies: [] });
      else if (entry.origin === null && seen.entry.origin !== null) byKey.set(entry.key, { entry, nodeId, copies: [...seen.copies, seen] });
      else seen.copies.push({ entry, nodeId });
    }
  }
  const folded = [...byKey.values()].map(({ entry, nodeId, copies }) => {
    const players = { ...entry.players_by_protocol };
    let count = entry.players;
    let bytesOut = entry.bytes_out;
    for (const copy of copies) {
      count += copy.entry.players;
      bytesOut += copy.entry.bytes_out;
      for (const [protocol, n] of Object.entries(copy.entry.players_by_protocol)) players[protocol] = (players[protocol] ?? 0) + n;
      if (copy.entry.origin === nodeId && (players.rtmp ?? 0) > 0) {
        count--;
        players.rtmp--;
      }
    }
    return { ...entry, players: count, players_by_protocol: players, bytes_out: bytesOut };
  });
  return folded.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
