/**
 * A publish holds its stream key for the whole cluster: claimed once the authorizer allowed it and before it is
 * accepted (publish_conflict holds across nodes), given back when it stops, and closed here when another node
 * took the key over (publish_conflict: replace there).
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import type { AccessCheck, AuthDecision, AuthRequest } from "../shared/access.ts";
import type { Peer } from "../shared/hub.ts";
import type { StreamRegistry } from "../streams/registry.ts";
import type { ClusterRegistry } from "./registry.ts";

export class PublishClaims implements AccessCheck {
  private registry: ClusterRegistry | null = null;

  constructor(
    private readonly inner: AccessCheck,
    private readonly streams: StreamRegistry,
    events: EventChannel,
    /** streams.publish_conflict is replace: a publish takes its key over from a live owner elsewhere. */
    private readonly replace: boolean,
    private readonly log: Logger,
  ) {
    events.subscribe((event) => {
      // A microtask later: a local takeover ends the old publication (publish_stop) before the new one is set.
      if (event.type === "publish_stop") queueMicrotask(() => this.released(event.stream_key ?? ""));
    });
  }

  /**
   * The node is in the cluster (its advertise URL needs the RTMP port, known once bound): publishes claim from
   * now on. Its lost claims close their publishers here.
   */
  join(registry: ClusterRegistry): void {
    this.registry = registry;
    registry.onLost = (key) => this.publisherHere(key)?.close("published on another node");
  }

  check(request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    const decision = this.inner.check(request);
    if (request.action !== "publish" || this.registry === null) return decision;
    return Promise.resolve(decision).then((d) => (d.allowed ? this.claim(this.registry!, request.streamKey) : d));
  }

  private async claim(registry: ClusterRegistry, key: string): Promise<AuthDecision> {
    const result = await registry.claim(key, this.replace);
    if (!result.ok) {
      this.log.warn("publish refused: published on another node", { stream_key: key, owner: result.owner.nodeId });
      return { allowed: false, reason: `${key} is already publishing on another node`, inUse: true };
    }
    // The session publishes as soon as it hears this; if it left meanwhile, nothing does, and the claim goes back.
    setTimeout(() => this.released(key), 0);
    return { allowed: true };
  }

  private released(key: string): void {
    if (this.registry !== null && this.publisherHere(key) === null) void this.registry.release(key);
  }

  /** The publisher of `key` on this node, not counting a pull of it from another. */
  private publisherHere(key: string): Peer | null {
    const publisher = this.streams.streams.get(key)?.publisher ?? null;
    return publisher === null || publisher.origin !== undefined ? null : publisher;
  }
}
