/**
 * createAuthorizer(): the one Authorizer the config's auth.mode names, behind a filter that lets the actions
 * auth.actions does not list through unchecked, and (with cluster.secret) the pass for other nodes' pulls.
 */
import type { Logger } from "../logger.ts";
import {
  ALLOWED,
  type AuthAction,
  type AuthDecision,
  type AuthRequest,
  type AuthSettings,
  type Authorizer,
} from "./authorizer.ts";
import { CallbackAuthorizer } from "./callback-auth.ts";
import { ClusterPass } from "./cluster-pass.ts";
import { SignAuthorizer } from "./sign.ts";
import { TokenAuthorizer, staticTokens } from "./token-auth.ts";
import { TokenFileWatcher } from "./token-file-watcher.ts";

/**
 * The Authorizer for `settings.mode`. Throws when the mode cannot work: the token file became unreadable
 * since the config check, or sign mode has no secret. With `clusterSecret` (cluster.secret), a play signed
 * with it is let through whatever the mode says.
 */
export function createAuthorizer(settings: AuthSettings, log: Logger, clusterSecret = ""): Authorizer {
  const byMode = modeAuthorizer(settings, log);
  if (settings.mode === "none") return byMode;
  log.info("auth enabled", { mode: settings.mode, actions: settings.actions });
  const filtered = new ActionFilter(new Set(settings.actions), byMode);
  return clusterSecret === "" ? filtered : new ClusterPass(clusterSecret, filtered);
}

function modeAuthorizer(settings: AuthSettings, log: Logger): Authorizer {
  switch (settings.mode) {
    case "none":
      return { check: () => ALLOWED, reload() {}, close() {} };
    case "token":
      return new TokenAuthorizer(staticTokens(settings.tokens));
    case "file":
      return new TokenAuthorizer(new TokenFileWatcher(settings.file, log));
    case "callback":
      return new CallbackAuthorizer(settings.callbackUrl, settings.callbackTimeoutMs, log);
    case "sign":
      return new SignAuthorizer(settings.secret);
  }
}

/** Lets the actions auth.actions does not name through without asking the mode. */
class ActionFilter implements Authorizer {
  constructor(
    private readonly actions: ReadonlySet<AuthAction>,
    private readonly inner: Authorizer,
  ) {}

  check(request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    return this.actions.has(request.action) ? this.inner.check(request) : ALLOWED;
  }

  reload(): void {
    this.inner.reload();
  }

  close(): void {
    this.inner.close();
  }
}
