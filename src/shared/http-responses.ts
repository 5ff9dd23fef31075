/**
 * The HTTP interface's plain responses: short text bodies for statuses, JSON for the API, and the headers
 * every response carries (no sniffing, no caching of live data).
 */

const COMMON = { "x-content-type-options": "nosniff", "cache-control": "no-store" };

export function textResponse(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, { status, headers: { ...COMMON, "content-type": "text/plain; charset=utf-8", ...headers } });
}

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...COMMON, "content-type": "application/json" } });
}

export function methodNotAllowed(allow: string): Response {
  return textResponse(405, "method not allowed", { allow });
}

export function noContent(): Response {
  return new Response(null, { status: 204, headers: COMMON });
}
