/**
 * GET /: the dashboard, one self-contained page (no CDN, no third-party code) embedded in the executable,
 * served as embedded-page.ts serves every page (its inline script and style allowed by their hashes only).
 */
import page from "./dashboard.html" with { type: "text" };
import { inlineHash, pageResponse } from "./embedded-page.ts";

// Bun types *.html imports as HTML bundles; imported `with { type: "text" }` it is the file's text.
const html = page as unknown as string;

const POLICY = [
  "default-src 'none'",
  `script-src ${inlineHash(html, "script")}`,
  `style-src ${inlineHash(html, "style")}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function dashboardResponse(): Response {
  return pageResponse(html, POLICY);
}
