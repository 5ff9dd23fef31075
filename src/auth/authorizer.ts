/**
 * What publish/play authorization is made of, whatever the mode: the request a session asks about, the
 * decision it gets back, and the Authorizer that decides.
 */
import type { AuthAction, Config } from "../config/config.ts";

export type { AuthAction };

export interface AuthRequest {
  action: AuthAction;
  app: string;
  name: string;
  streamKey: string;
  /** Query parameters from the stream name, then from connect's tcUrl (the name's win); never logged. */
  query: Readonly<Record<string, string>>;
  clientIp: string;
}

/** `reason` is safe to log and to show: it never holds a secret. */
export type AuthDecision = { allowed: true } | { allowed: false; reason: string };

export interface Authorizer {
  /** Synchronous when it can be (none, token, file, sign), a Promise only for callback. */
  check(request: AuthRequest): AuthDecision | Promise<AuthDecision>;
  /** SIGHUP: re-read what can be re-read (the token file). */
  reload(): void;
  /** Stop watchers and timers; pending callbacks resolve as refused. */
  close(): void;
}

/** The config's `auth` section. */
export type AuthSettings = Config["auth"];

export const ALLOWED: AuthDecision = Object.freeze({ allowed: true });

export function refused(reason: string): AuthDecision {
  return { allowed: false, reason };
}

/** A query parameter as the client sent it, "" when absent (own keys only: the query is client data). */
export function queryParam(request: AuthRequest, name: string): string {
  return Object.hasOwn(request.query, name) ? request.query[name] : "";
}
