/**
 * GET /{app}/{name}/ (with hls.enabled): a page that plays the stream's index.m3u8, muted, with its live latency
 * shown, through the browser's own HLS where it has one, else hls.js. hls.js (its light build, Apache-2.0) is
 * embedded in the executable and served at a path naming its version, so browsers may cache it for good.
 */
import hlsJsSource from "hls.js/dist/hls.light.min.js" with { type: "text" };
import hlsJsPackage from "hls.js/package.json" with { type: "json" };
import { hlsTarget } from "../hls/hls-endpoint.ts";
import type { HlsMuxers } from "../hls/muxers.ts";
import { methodNotAllowed, textResponse } from "../shared/http-responses.ts";
import { escapeHtml, inlineHash, pageResponse } from "./embedded-page.ts";
import page from "./watch.html" with { type: "text" };

// Bun types *.html imports as HTML bundles; imported `with { type: "text" }` it is the file's text.
const template = page as unknown as string;

export const HLS_JS_PATH = `/assets/hls.js-${hlsJsPackage.version}/hls.light.min.js`;

// The package's license notice goes with the code; its source map is not served, so no pointer to it.
const HLS_JS = `/*! hls.js ${hlsJsPackage.version} (light build), https://github.com/video-dev/hls.js
Copyright (c) 2017 Dailymotion (http://www.dailymotion.com); portions Copyright (c) 2013-2015 Brightcove.
Licensed under the Apache License, Version 2.0: http://www.apache.org/licenses/LICENSE-2.0 */
${hlsJsSource.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, "\n")}`;
let hlsJsGzip: Uint8Array | null = null;

const POLICY = [
  "default-src 'none'",
  // The inline script, and hls.js from this server.
  `script-src ${inlineHash(template, "script")} 'self'`,
  `style-src ${inlineHash(template, "style")}`,
  "connect-src 'self'",
  // hls.js plays through a Media Source, whose URL is a blob:.
  "media-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** Whether the watch page's router answers `path`: a page (any path ending in "/"), or hls.js. */
export function isWatchPath(path: string): boolean {
  return path.endsWith("/") || path === HLS_JS_PATH;
}

/** The watch page of the stream `path` names (404 if it names none, or one not offered as HLS), or hls.js. */
export function watchResponse(request: Request, path: string, hls: Pick<HlsMuxers, "offered" | "settings">): Response {
  if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed("GET, HEAD");
  if (path === HLS_JS_PATH) return hlsJsResponse(request);
  const target = hlsTarget(path);
  if (target === null || !hls.offered(target.name.key)) return textResponse(404, "not found");
  const values: Record<string, string> = {
    key: target.name.key,
    hls_js: HLS_JS_PATH,
    low_latency: String(hls.settings.lowLatency),
  };
  // Every value is escaped for HTML; none enters the inline script, whose hash the policy names.
  return pageResponse(
    template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => escapeHtml(values[name])),
    POLICY,
  );
}

/** hls.js, gzipped (compressed once, on first request) for a client that takes it. */
function hlsJsResponse(request: Request): Response {
  const headers: Record<string, string> = {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": "public, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
    vary: "accept-encoding",
  };
  if (!/\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")) return new Response(HLS_JS, { headers });
  hlsJsGzip ??= Bun.gzipSync(HLS_JS, { level: 9 });
  return new Response(hlsJsGzip, { headers: { ...headers, "content-encoding": "gzip" } });
}
