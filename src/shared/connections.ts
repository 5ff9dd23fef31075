/**
 * Every live connection of every protocol (RTMP, RTMPS, HTTP-FLV, WS-FLV) in one table: one id sequence,
 * one max_connections budget, one list for the API and for the sweep of deadlines, and closing any of them
 * by id. How a connection opens, closes and is reported is its Lifecycle's (lifecycle.ts).
 */
import type { Outbox } from "./outbox.ts";


/** What the table (and the API) knows of a connection, whatever its protocol. */
export interface Connection {
  readonly id: string;
  /** "ip:port", "[v6]:port" for IPv6 (hostPort), "" if the peer left before its address was known. */
  readonly remoteAddress: string;
  /** "rtmp", "rtmps", "http-flv" or "ws-flv". */
  readonly protocol: string;
  /** "publisher", "player", or "" before either. */
  readonly role: string;
  /** The stream it publishes or plays, "" before either. */
  readonly streamKey: string;
  /** Unix milliseconds when it was accepted. */
  readonly since: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Its send queue; null for one that answers requests instead (an HLS viewer). */
  readonly outbox: Outbox | null;
  /** Close it: flush what is queued, then disconnect. */
  close(reason: string): void;
  /** The server's sweep: check its deadlines (Lifecycle.check). */
  tick(now: number): void;
}

export class ConnectionTable {
  private readonly byId = new Map<string, Connection>();
  private nextId = 1;

  constructor(
    private readonly max: number,
    /** Put before every id ("w1-" in worker 1 of several: ids stay unique across the workers). */
    private readonly idPrefix = "",
  ) {}

  /** A fresh id, or null when max_connections are open (the caller refuses the connection). */
  reserve(): string | null {
    if (this.byId.size >= this.max) return null;
    return `${this.idPrefix}c${String(this.nextId++).padStart(6, "0")}`;
  }

  add(connection: Connection): void {
    this.byId.set(connection.id, connection);
  }

  delete(connection: Connection): void {
    if (this.byId.get(connection.id) === connection) this.byId.delete(connection.id);
  }

  get(id: string): Connection | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** True once every connection has handed what it queued to the kernel (the shutdown waits for it). */
  get flushed(): boolean {
    for (const c of this.byId.values()) if (c.outbox?.empty === false) return false;
    return true;
  }

  values(): IterableIterator<Connection> {
    return this.byId.values();
  }
}
