/**
 * The registry the supervisor keeps for its workers when there is no Redis: which worker publishes which
 * stream key, and each worker's node id and advertise URL. A worker that exits leaves with all its claims.
 */
import type { NodeView, Owner } from "./registry.ts";

export type ClaimOutcome =
  | { readonly ok: true; /** The worker that lost the key to this claim (replace), if any. */ readonly displaced: number | null }
  | { readonly ok: false; readonly owner: Owner };

export class SupervisorClaims {
  private readonly nodes = new Map<number, Owner>();
  private readonly owners = new Map<string, number>();

  /** A worker tells its identity (once its private listener is up). */
  join(worker: number, node: Owner): void {
    this.nodes.set(worker, node);
  }

  /** A worker exited or stops: its node record and claims go. */
  leave(worker: number): void {
    this.nodes.delete(worker);
    for (const [key, owner] of this.owners) if (owner === worker) this.owners.delete(key);
  }

  claim(worker: number, key: string, replace: boolean): ClaimOutcome {
    const owner = this.owners.get(key);
    const record = owner === undefined ? undefined : this.nodes.get(owner);
    if (owner === undefined || owner === worker || record === undefined) {
      this.owners.set(key, worker);
      return { ok: true, displaced: null };
    }
    if (!replace) return { ok: false, owner: record };
    this.owners.set(key, worker);
    return { ok: true, displaced: owner };
  }

  /** Only the worker's own claim goes. */
  release(worker: number, key: string): void {
    if (this.owners.get(key) === worker) this.owners.delete(key);
  }

  /** The worker other than `worker` that publishes `key`, or null. */
  lookup(worker: number, key: string): Owner | null {
    const owner = this.owners.get(key);
    if (owner === undefined || owner === worker) return null;
    return this.nodes.get(owner) ?? null;
  }

  /** Every worker that told its identity, with the keys it claims. */
  list(): NodeView[] {
    const streams = new Map<number, string[]>();
    for (const [key, owner] of this.owners) streams.set(owner, [...(streams.get(owner) ?? []), key]);
    return [...this.nodes].sort(([a], [b]) => a - b).map(([worker, node]) => ({ ...node, streams: (streams.get(worker) ?? []).sort() }));
  }
}
