/**
 * What publish/play authorization is made of, whatever the mode: the request a session asks about, the
 * decision it gets back, and the Authorizer that decides.
 */
import type { AccessCheck, AuthAction, AuthDecision, AuthRequest } from "../shared/access.ts";

export type { AuthAction, AuthDecision, AuthRequest };

/** Answers a session's AccessCheck: synchronous for none, token, file and sign; a Promise for callback. */
export interface Authorizer extends AccessCheck {
  /** SIGHUP: re-read what can be re-read (the token file). */
  reload(): void;
  /** Stop watchers and timers; pending callbacks resolve as refused. */
  close(): void;
}

/** The config's `auth` section. */
export interface AuthSettings {
  mode: "none" | "token" | "file" | "callback" | "sign";
  actions: AuthAction[];
  /** "app/name" -> token. */
  tokens: Record<string, string>;
  file: string;
  callbackUrl: string;
  callbackTimeoutMs: number;
  /** sign mode: the HMAC-SHA256 key of signed URLs. */
  secret: string;
}

export const ALLOWED: AuthDecision = Object.freeze({ allowed: true });

export function refused(reason: string): AuthDecision {
  return { allowed: false, reason };
}

/** A query parameter as the client sent it, "" when absent (own keys only: the query is client data). */
export function queryParam(request: AuthRequest, name: string): string {
  return Object.hasOwn(request.query, name) ? request.query[name] : "";
}
