/**
 * The JSON API under /api/: the live streams, the open connections, closing one by id, the cluster, and (one
 * of several workers) the workers, all of them described whichever worker answers (whole-server.ts). With
 * http.api_token set, every request needs `Authorization: Bearer TOKEN` (compared in constant time).
 */
import { secretsEqual } from "../auth/secret-compare.ts";
import type { PullStatus } from "../cluster/pulls.ts";
import type { ClusterRegistry, NodeView } from "../cluster/registry.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import { jsonResponse, methodNotAllowed, noContent, textResponse } from "../shared/http-responses.ts";
import { connectionView, streamViews, type ViewSources } from "./views.ts";
import type { WholeServer } from "./whole-server.ts";

/** What /api/cluster shows. */
export interface ClusterSources {
  nodeId: string;
  advertise: string;
  /** The shared registry; null with static cluster.origins only (the node then lists itself). */
  registry: Pick<ClusterRegistry, "nodes" | "state"> | null;
  /** The pulls running here. */
  pulls: { list(): readonly PullStatus[] };
}

export interface ApiSources extends ViewSources {
  registry: StreamRegistry;
  cluster: ClusterSources | null;
}

export class Api {
  constructor(
    private readonly sources: ApiSources,
    /** http.api_token; "" = open. */
    private readonly token: string,
    /** One of several workers: what the API shows is all of them. */
    private readonly whole: WholeServer | null = null,
  ) {}

  /** A request whose path starts with /api/. */
  handle(request: Request, path: string): Response | Promise<Response> {
    if (!this.authorized(request)) {
      return textResponse(401, "unauthorized", { "www-authenticate": 'Bearer realm="rtmp-server api"' });
    }
    const read = request.method === "GET" || request.method === "HEAD";
    if (path === "/api/streams") return read ? this.streams() : methodNotAllowed("GET, HEAD");
    if (path === "/api/connections") return read ? this.connections() : methodNotAllowed("GET, HEAD");
    if (path === "/api/cluster" && this.sources.cluster !== null) return read ? this.cluster(this.sources.cluster) : methodNotAllowed("GET, HEAD");
    if (path === "/api/workers" && this.whole !== null) return read ? this.whole.workers().then((workers) => jsonResponse({ workers })) : methodNotAllowed("GET, HEAD");
    const id = /^\/api\/connections\/([^/]+)$/.exec(path)?.[1];
    if (id === undefined) return textResponse(404, "not found");
    if (this.whole?.elsewhere(id)) return this.siblingConnection(this.whole, request.method, id);
    if (request.method === "DELETE") return this.closeConnection(id);
    return read ? this.connection(id) : methodNotAllowed("GET, HEAD, DELETE");
  }

  private authorized(request: Request): boolean {
    if (this.token === "") return true;
    const header = request.headers.get("authorization") ?? "";
    const match = /^Bearer[ ]+(\S+)$/i.exec(header.trim());
    return match !== null && secretsEqual(match[1], this.token);
  }

  private streams(): Response | Promise<Response> {
    if (this.whole !== null) return this.whole.streams().then(jsonResponse);
    return jsonResponse({ streams: streamViews(this.sources) });
  }

  private async cluster(cluster: ClusterSources): Promise<Response> {
    const nodes: readonly NodeView[] = cluster.registry === null ? [this.self(cluster)] : await cluster.registry.nodes();
    return jsonResponse({
      node_id: cluster.nodeId,
      nodes: nodes.map((n) => ({ node_id: n.nodeId, advertise: n.advertise, streams: n.streams })),
      pulls: (this.whole === null ? cluster.pulls.list() : await this.whole.pulls()).map((p) => ({ stream_key: p.streamKey, from: p.from, players: p.players })),
    });
  }

  /** Without a registry: this node and the streams published here (not the ones it pulls). */
  private self(cluster: ClusterSources): NodeView {
    const streams = [...this.sources.registry.streams.values()].filter((s) => s.publisher !== null && s.origin === null).map((s) => s.key);
    return { nodeId: cluster.nodeId, advertise: cluster.advertise, streams: streams.sort() };
  }

  private connections(): Response | Promise<Response> {
    if (this.whole !== null) return this.whole.connections().then(jsonResponse);
    return jsonResponse({ connections: [...this.sources.connections.values()].map(connectionView) });
  }

  private connection(id: string): Response {
    const c = this.sources.connections.get(id);
    return c === undefined ? textResponse(404, "no such connection") : jsonResponse(connectionView(c));
  }

  /** Another worker's connection: shown or closed by that worker. */
  private async siblingConnection(whole: WholeServer, method: string, id: string): Promise<Response> {
    if (method === "DELETE") return (await whole.close(id)) ? noContent() : textResponse(404, "no such connection");
    if (method !== "GET" && method !== "HEAD") return methodNotAllowed("GET, HEAD, DELETE");
    const c = await whole.connection(id);
    return c === null ? textResponse(404, "no such connection") : jsonResponse(c);
  }

  private closeConnection(id: string): Response {
    const c = this.sources.connections.get(id);
    if (c === undefined) return textResponse(404, "no such connection");
    c.close("closed through the API");
    return noContent();
  }
}
