/**
 * What a session asks before it lets a connection publish or play, and the answer it gets. The session layer
 * declares this; src/auth/ implements it (token, file, callback, signed URLs).
 */

export type AuthAction = "publish" | "play";

export interface AuthRequest {
  action: AuthAction;
  app: string;
  name: string;
  streamKey: string;
  /** Query parameters from the stream name, then from connect's tcUrl (the name's win); never logged. */
  query: Readonly<Record<string, string>>;
  /** The client's IP address, without the port. */
  clientIp: string;
}

/**
 * `reason` is safe to log and to show: it never holds a secret. `inUse`: refused not for the credentials but
 * because the stream is published on another node of the cluster (BadName, like a local conflict).
 */
export type AuthDecision = { allowed: true } | { allowed: false; reason: string; inUse?: true };

export interface AccessCheck {
  /** Synchronous when it can be; a Promise when the answer comes from elsewhere (an HTTP callback). */
  check(request: AuthRequest): AuthDecision | Promise<AuthDecision>;
}
