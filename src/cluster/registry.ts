/**
 * The cluster's shared registry, whatever keeps it (Redis, or the supervisor of this machine's workers): which
 * nodes are alive, where each reaches the others, and which node owns each published stream key.
 */

/** A node that owns a stream: its id, and the RTMP base URL ("rtmp://host:port") others pull from. */
export interface Owner {
  readonly nodeId: string;
  readonly advertise: string;
}

export type ClaimResult = { readonly ok: true } | { readonly ok: false; readonly owner: Owner };

/** A live node and the stream keys it holds, for /api/cluster. */
export interface NodeView {
  readonly nodeId: string;
  readonly advertise: string;
  readonly streams: readonly string[];
}

/** up: the store answers; down: it does not (local publish and play go on, lookups find nothing). */
export type RegistryState = "up" | "down";

export interface ClusterRegistry {
  readonly nodeId: string;
  readonly state: RegistryState;
  /** Begin heartbeating (and re-register within 5 s of the store coming back). */
  start(): void;
  /**
   * Claim a stream key for this node before its publish is accepted. replace: take it over from a live owner
   * (streams.publish_conflict: replace). A claim whose owner node's heartbeat is gone is void and is taken.
   * Store unreachable: resolves { ok: true } fast (local publish goes on).
   */
  claim(key: string, replace: boolean): Promise<ClaimResult>;
  /** Remove this node's own claim only (compare-and-delete). */
  release(key: string): Promise<void>;
  /** The live node other than this one that holds key, or null (also null, fast, when unreachable). */
  lookup(key: string): Promise<Owner | null>;
  /** Nodes and their claimed streams, for /api/cluster. */
  nodes(): Promise<NodeView[]>;
  /** Called when this node lost a claim it held (another node replaced it): the local publisher is closed. */
  onLost: ((key: string) => void) | null;
  /** Remove this node's claims and its node record, stop heartbeating (SIGTERM). */
  stop(): Promise<void>;
}
