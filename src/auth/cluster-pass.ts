/**
 * The way a cluster node's pull passes the owner's play auth whatever auth.mode is: its play URL carries
 * `?sign=EXPIRES-HEX` made with cluster.secret (src/shared/signature.ts, compared in constant time). Any
 * other request, and a pull whose signature does not verify, is decided by the mode as usual.
 */
import { verifySignedStreamKey } from "../shared/signature.ts";
import { ALLOWED, type AuthDecision, type AuthRequest, type Authorizer, queryParam } from "./authorizer.ts";

export class ClusterPass implements Authorizer {
  constructor(
    private readonly clusterSecret: string,
    private readonly inner: Authorizer,
  ) {}

  check(request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    if (request.action === "play") {
      const nowSec = Math.floor(Date.now() / 1000);
      if (verifySignedStreamKey(queryParam(request, "sign"), request.streamKey, this.clusterSecret, nowSec).allowed) return ALLOWED;
    }
    return this.inner.check(request);
  }

  reload(): void {
    this.inner.reload();
  }

  close(): void {
    this.inner.close();
  }
}
