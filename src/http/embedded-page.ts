/**
 * The HTML pages the server embeds (the dashboard, the watch page): each self-contained, its inline script and
 * style allowed by their hashes in a Content-Security-Policy, so nothing else (an injected script, a foreign
 * origin) ever runs in it.
 */

/** The CSP source that allows the page's one inline `<script>` or `<style>`, by the SHA-256 of its text. */
export function inlineHash(html: string, tag: "script" | "style"): string {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(html);
  if (match === null) throw new Error(`the embedded page has no <${tag}>`);
  return `'sha256-${new Bun.CryptoHasher("sha256").update(match[1]).digest("base64")}'`;
}

/** `policy`: the page's Content-Security-Policy, joined once when its module loads. */
export function pageResponse(body: string, policy: string): Response {
  return new Response(body, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": policy,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    },
  });
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
