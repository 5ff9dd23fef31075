/**
 * One webhook delivery: POST the event's JSON (signed with X-Rtmp-Signature when a secret is set), bounded by
 * the hook timeout, no retries, no redirects. 2xx is ok; any other status or a transport error is failed.
 */
import type { ServerEvent } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { HookOutcome } from "./hook-stats.ts";

export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key for X-Rtmp-Signature; "" = unsigned. */
  secret: string;
  timeoutMs: number;
}

/** `log` carries the hook's fields (its URL without the query); `cancel` aborts the request at shutdown. */
export async function postWebhook(
  target: WebhookTarget,
  event: ServerEvent,
  cancel: AbortSignal,
  log: Logger,
): Promise<HookOutcome> {
  const body = JSON.stringify(event);
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (target.secret !== "") headers["X-Rtmp-Signature"] = `sha256=${sign(body, target.secret)}`;
  const started = performance.now();
  try {
    const response = await fetch(target.url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.any([AbortSignal.timeout(target.timeoutMs), cancel]),
    });
    // The answer's body means nothing to us; dropping it unread frees the connection.
    response.body?.cancel().catch(() => {});
    const fields = { status: response.status, duration_ms: elapsed(started) };
    if (response.ok) {
      log.debug("webhook delivered", fields);
      return "ok";
    }
    log.warn("webhook refused", fields);
    return "failed";
  } catch (e) {
    if (cancel.aborted) {
      log.warn("webhook cut off by shutdown", { duration_ms: elapsed(started) });
      return "timeout";
    }
    if (e instanceof Error && e.name === "TimeoutError") {
      log.warn("webhook timed out", { timeout_ms: target.timeoutMs });
      return "timeout";
    }
    log.warn("webhook failed", { error: errorText(e), duration_ms: elapsed(started) });
    return "failed";
  }
}

/** The URL for logs: scheme, host and path; never the query (tokens live there) nor user:password. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "[invalid URL]";
  }
}

function sign(body: string, secret: string): string {
  return new Bun.CryptoHasher("sha256", secret).update(body).digest("hex");
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
}
