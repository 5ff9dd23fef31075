/**
 * Signed URLs (auth.mode sign): `?sign=EXPIRES-HEX`, HEX the lowercase hex HMAC-SHA256, keyed with
 * auth.secret, of `/{app}/{name}-{EXPIRES}` (src/shared/signature.ts). `rtmp-server sign` makes them;
 * publish and play check them.
 */
import { verifySignedStreamKey } from "../shared/signature.ts";
import { type AuthDecision, type AuthRequest, type Authorizer, queryParam } from "./authorizer.ts";

export class SignAuthorizer implements Authorizer {
  constructor(private readonly secret: string) {
    // An empty HMAC key is a key everyone has.
    if (secret === "") throw new Error("auth.secret is required when auth.mode is sign");
  }

  check(request: AuthRequest): AuthDecision {
    const nowSec = Math.floor(Date.now() / 1000);
    return verifySignedStreamKey(queryParam(request, "sign"), request.streamKey, this.secret, nowSec);
  }

  reload(): void {}

  close(): void {}
}
