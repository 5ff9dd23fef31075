/**
 * Every live connection of every protocol (RTMP, RTMPS, HTTP-FLV, WS-FLV) in one table: one id sequence,
 * one max_connections budget, one list for the API, and closing any of them by id; and what every
 * connection reports the same way, whatever its protocol (its address, its summary, its end).
 */
import type { EventChannel } from "../events/events.ts";
import type { ServerStats } from "./server-stats.ts";

/** What the table (and the API) knows of a connection, whatever its protocol. */
export interface Connection {
  readonly id: string;
  /** "ip:port", "[v6]:port" for IPv6. */
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
  /** Close it: flush what is queued, then disconnect. */
  close(reason: string): void;
}

/** A peer's address as connections show it: "ip:port", "[v6]:port" for IPv6. */
export function formatRemoteAddress(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** How long a closing connection may take to hand over what is queued (and see the peer close) before it is cut. */
export const LINGER_MS = 5000;

/** A connection's figures for its log lines; `startedAt` is its performance.now() at accept. */
export function connectionSummary(c: Connection, startedAt: number): Record<string, unknown> {
  return { duration_ms: Math.round(performance.now() - startedAt), bytes_in: c.bytesIn, bytes_out: c.bytesOut };
}

/** A connection ended, told once: its bytes sent join the closed total, and connection_close goes out. */
export function reportConnectionClosed(c: Connection, startedAt: number, stats: ServerStats, events: EventChannel): void {
  stats.closedBytesOut += c.bytesOut;
  events.emit(
    "connection_close",
    { connId: c.id, streamKey: c.streamKey === "" ? undefined : c.streamKey },
    {
      role: c.role,
      protocol: c.protocol,
      duration_sec: Math.round(performance.now() - startedAt) / 1000,
      bytes_in: c.bytesIn,
      bytes_out: c.bytesOut,
    },
  );
}

export class ConnectionTable {
  private readonly byId = new Map<string, Connection>();
  private nextId = 1;

  constructor(private readonly max: number) {}

  /** A fresh id, or null when max_connections are open (the caller refuses the connection). */
  reserve(): string | null {
    if (this.byId.size >= this.max) return null;
    return `c${String(this.nextId++).padStart(6, "0")}`;
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

  values(): IterableIterator<Connection> {
    return this.byId.values();
  }
}
