/**
 * Token auth (modes token and file): the client's `?token=` must equal the token configured for its stream
 * key. A key with no entry is refused: once auth is on, every stream must be listed.
 */
import { ALLOWED, type AuthDecision, type AuthRequest, type Authorizer, queryParam, refused } from "./authorizer.ts";
import { secretsEqual } from "./secret-compare.ts";

/** Where the "app/name" -> token map comes from: the config (fixed) or the token file (followed). */
export interface TokenSource {
  tokens(): ReadonlyMap<string, string>;
  reload(): void;
  close(): void;
}

export function staticTokens(tokens: Readonly<Record<string, string>>): TokenSource {
  const map = new Map(Object.entries(tokens));
  return { tokens: () => map, reload() {}, close() {} };
}

export class TokenAuthorizer implements Authorizer {
  constructor(private readonly source: TokenSource) {}

  check(request: AuthRequest): AuthDecision {
    const given = queryParam(request, "token");
    if (given === "") return refused("token missing");
    const expected = this.source.tokens().get(request.streamKey);
    if (expected === undefined) return refused("no token configured for this stream");
    return secretsEqual(given, expected) ? ALLOWED : refused("invalid token");
  }

  reload(): void {
    this.source.reload();
  }

  close(): void {
    this.source.close();
  }
}
