/**
 * The cluster registry of a worker without Redis: the supervisor keeps the claims and the workers' addresses
 * (SupervisorClaims) and this asks it over the IPC channel. The supervisor gone (it is exiting): claims pass,
 * lookups find nothing, as a registry whose store is unreachable does.
 */
import type { ClaimResult, ClusterRegistry, NodeView, Owner, RegistryState } from "./registry.ts";
import type { WorkerChannel } from "./worker-channel.ts";

export class SupervisorRegistry implements ClusterRegistry {
  readonly nodeId: string;
  onLost: ((key: string) => void) | null = null;

  constructor(
    private readonly channel: WorkerChannel,
    private readonly identity: Owner,
  ) {
    this.nodeId = identity.nodeId;
    channel.onLost = (key) => this.onLost?.(key);
  }

  get state(): RegistryState {
    return this.channel.open ? "up" : "down";
  }

  start(): void {
    void this.channel.call({ op: "node", nodeId: this.identity.nodeId, advertise: this.identity.advertise });
  }

  async claim(key: string, replace: boolean): Promise<ClaimResult> {
    return ((await this.channel.call({ op: "claim", key, replace })) as ClaimResult | null) ?? { ok: true };
  }

  async release(key: string): Promise<void> {
    await this.channel.call({ op: "release", key });
  }

  async lookup(key: string): Promise<Owner | null> {
    return (await this.channel.call({ op: "lookup", key })) as Owner | null;
  }

  async nodes(): Promise<NodeView[]> {
    return ((await this.channel.call({ op: "nodes" })) as NodeView[] | null) ?? [];
  }

  async stop(): Promise<void> {
    await this.channel.call({ op: "leave" });
  }
}
