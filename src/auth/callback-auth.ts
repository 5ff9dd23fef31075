/**
 * Callback auth: each publish/play is POSTed as JSON to auth.callback_url and any 2xx answer allows it. The
 * session waits for the answer without blocking anything else; a timeout, a transport error or any other
 * status refuses, and at most MAX_PENDING_CALLBACKS wait at once.
 */
import type { Logger } from "../logger.ts";
import { ALLOWED, type AuthDecision, type AuthRequest, type Authorizer, queryParam, refused } from "./authorizer.ts";

/** Callbacks waiting for an answer; past this, requests are refused at once rather than queued. */
export const MAX_PENDING_CALLBACKS = 256;

/** Why a request was aborted, told apart in the decision. */
const TIMED_OUT = Symbol("timed out");
const CLOSED = Symbol("closed");

export class CallbackAuthorizer implements Authorizer {
  private readonly pending = new Set<AbortController>();
  /**
   * Requests refused since the bound was reached, reported when half the bound has cleared; null outside such
   * a stretch. The hysteresis keeps a flood at the bound to two log lines, not two per request.
   */
  private refusedAtBound: number | null = null;
  private closed = false;
  /** The URL as logged: its query and credentials may hold secrets. */
  private readonly shownUrl: string;

  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.shownUrl = withoutSecrets(url);
    log.info("auth callback", { url: this.shownUrl, timeout_ms: timeoutMs });
  }

  check(request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    if (this.closed) return refused("server shutting down");
    if (this.pending.size >= MAX_PENDING_CALLBACKS) return this.refuseAtBound();
    return this.call(request);
  }

  reload(): void {}

  close(): void {
    this.closed = true;
    for (const controller of this.pending) controller.abort(CLOSED);
  }

  private async call(request: AuthRequest): Promise<AuthDecision> {
    const controller = new AbortController();
    this.pending.add(controller);
    const timer = setTimeout(() => controller.abort(TIMED_OUT), this.timeoutMs);
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: callbackBody(request),
        signal: controller.signal,
        // A redirect is an answer other than 2xx, not an instruction to ask elsewhere.
        redirect: "manual",
      });
      // The body means nothing to us: release the connection without reading it.
      response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status <= 299) return ALLOWED;
      return refused(`callback answered HTTP ${response.status}`);
    } catch (error) {
      return this.failed(request, controller.signal.reason, error);
    } finally {
      clearTimeout(timer);
      this.pending.delete(controller);
      this.belowBound();
    }
  }

  private failed(request: AuthRequest, abortReason: unknown, error: unknown): AuthDecision {
    if (abortReason === CLOSED) return refused("server shutting down");
    const fields = { url: this.shownUrl, action: request.action, stream_key: request.streamKey };
    if (abortReason === TIMED_OUT) {
      this.log.warn("auth callback timed out", { ...fields, timeout_ms: this.timeoutMs });
      return refused("callback timed out");
    }
    // The error's message may quote the URL; its code says enough (ECONNREFUSED, ENOTFOUND, ...).
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === "string" ? code : "transport error";
    this.log.warn("auth callback unreachable", { ...fields, error: reason });
    return refused("callback unreachable");
  }

  private refuseAtBound(): AuthDecision {
    if (this.refusedAtBound === null) {
      this.refusedAtBound = 0;
      this.log.warn("auth callbacks: too many pending, refusing new requests", { pending: this.pending.size });
    }
    this.refusedAtBound++;
    return refused(`too many auth callbacks pending (${MAX_PENDING_CALLBACKS})`);
  }

  private belowBound(): void {
    if (this.refusedAtBound === null || this.pending.size > MAX_PENDING_CALLBACKS / 2) return;
    this.log.info("auth callbacks: accepting requests again", { refused: this.refusedAtBound });
    this.refusedAtBound = null;
  }
}

/** `{action, app, name, stream_key, token, client_ip}`, the operator contract's body. */
function callbackBody(request: AuthRequest): string {
  return JSON.stringify({
    action: request.action,
    app: request.app,
    name: request.name,
    stream_key: request.streamKey,
    token: queryParam(request, "token"),
    client_ip: request.clientIp,
  });
}

function withoutSecrets(url: string): string {
  try {
    const shown = new URL(url);
    shown.search = "";
    shown.hash = "";
    shown.username = "";
    shown.password = "";
    return shown.href;
  } catch {
    return "(invalid URL)";
  }
}
