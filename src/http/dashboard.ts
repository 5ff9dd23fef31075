/**
 * GET /: the dashboard, one self-contained page (no CDN, no third-party code) embedded in the executable.
 * Its inline script and style are allowed by their hashes in a Content-Security-Policy, so nothing else
 * (an injected script, a foreign origin) ever runs in it.
 */
import page from "./dashboard.html" with { type: "text" };

// Bun types *.html imports as HTML bundles; imported `with { type: "text" }` it is the file's text.
const html = page as unknown as string;

function sha256(text: string): string {
  return `'sha256-${new Bun.CryptoHasher("sha256").update(text).digest("base64")}'`;
}

function inline(tag: string): string {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(html);
  if (match === null) throw new Error(`dashboard.html has no <${tag}>`);
  return match[1];
}

const POLICY = [
  "default-src 'none'",
  `script-src ${sha256(inline("script"))}`,
  `style-src ${sha256(inline("style"))}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function dashboardResponse(): Response {
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    },
  });
}
