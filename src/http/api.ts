/**
 * The JSON API under /api/: the live streams, the open connections, and closing one by id. With
 * http.api_token set, every request needs `Authorization: Bearer TOKEN` (compared in constant time).
 */
import { secretsEqual } from "../auth/secret-compare.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import { jsonResponse, methodNotAllowed, noContent, textResponse } from "../shared/http-responses.ts";
import { connectionView, streamView, type ViewSources } from "./views.ts";

export interface ApiSources extends ViewSources {
  registry: StreamRegistry;
}

export class Api {
  constructor(
    private readonly sources: ApiSources,
    /** http.api_token; "" = open. */
    private readonly token: string,
  ) {}

  /** A request whose path starts with /api/. */
  handle(request: Request, path: string): Response {
    if (!this.authorized(request)) {
      return textResponse(401, "unauthorized", { "www-authenticate": 'Bearer realm="rtmp-server api"' });
    }
    const read = request.method === "GET" || request.method === "HEAD";
    if (path === "/api/streams") return read ? this.streams() : methodNotAllowed("GET, HEAD");
    if (path === "/api/connections") return read ? this.connections() : methodNotAllowed("GET, HEAD");
    const id = /^\/api\/connections\/([^/]+)$/.exec(path)?.[1];
    if (id === undefined) return textResponse(404, "not found");
    if (request.method === "DELETE") return this.closeConnection(id);
    return read ? this.connection(id) : methodNotAllowed("GET, HEAD, DELETE");
  }

  private authorized(request: Request): boolean {
    if (this.token === "") return true;
    const header = request.headers.get("authorization") ?? "";
    const match = /^Bearer[ ]+(\S+)$/i.exec(header.trim());
    return match !== null && secretsEqual(match[1], this.token);
  }

  private streams(): Response {
    const now = performance.now();
    const streams = [...this.sources.registry.streams.values()].map((s) => streamView(s, this.sources, now));
    streams.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return jsonResponse({ streams });
  }

  private connections(): Response {
    return jsonResponse({ connections: [...this.sources.connections.values()].map(connectionView) });
  }

  private connection(id: string): Response {
    const c = this.sources.connections.get(id);
    return c === undefined ? textResponse(404, "no such connection") : jsonResponse(connectionView(c));
  }

  private closeConnection(id: string): Response {
    const c = this.sources.connections.get(id);
    if (c === undefined) return textResponse(404, "no such connection");
    c.close("closed through the API");
    return noContent();
  }
}
