/**
 * What the supervisor and its workers say to each other over the IPC channel Bun.spawn opens: a worker's
 * calls (registry operations, questions for its siblings), each answered by one reply with its id; the
 * supervisor's queries on behalf of a sibling, and its notices (a claim lost, stop).
 */

/** A question one worker's HTTP API asks the others (their streams, connections, metrics...). */
export interface SiblingQuery {
  readonly what: string;
  readonly arg?: string;
}

/** The answers of the workers that replied in time; the ones that did not (or are down) are in `missing`. */
export interface SiblingAnswers {
  readonly answers: readonly { readonly worker: number; readonly result: unknown }[];
  readonly missing: readonly number[];
}

/** A worker as the supervisor sees it, for the API. */
export interface WorkerInfo {
  readonly index: number;
  /** Null while it is down, between a death and its restart. */
  readonly pid: number | null;
  readonly state: "starting" | "running" | "restarting" | "stopping";
  readonly restarts: number;
  /** Unix milliseconds when the current process was started. */
  readonly since: number;
  /** Its own loopback HTTP port (null before it serves, or without http.listen). */
  readonly httpPort: number | null;
}

/** A worker's request of the supervisor; `node` and `leave` get an empty reply. */
export type WorkerCall =
  | { readonly op: "node"; readonly nodeId: string; readonly advertise: string }
  | { readonly op: "claim"; readonly key: string; readonly replace: boolean }
  | { readonly op: "release"; readonly key: string }
  | { readonly op: "lookup"; readonly key: string }
  | { readonly op: "nodes" }
  | { readonly op: "leave" }
  | { readonly op: "ask"; readonly query: SiblingQuery; readonly to: number | null }
  | { readonly op: "workers" };

export type ToSupervisor =
  | { readonly t: "ready"; readonly httpPort: number | null }
  | { readonly t: "call"; readonly id: number; readonly call: WorkerCall }
  | { readonly t: "answer"; readonly id: number; readonly result: unknown };

export type ToWorker =
  | { readonly t: "reply"; readonly id: number; readonly result: unknown }
  | { readonly t: "query"; readonly id: number; readonly query: SiblingQuery }
  | { readonly t: "lost"; readonly key: string }
  | { readonly t: "stop" };

const CALL_OPS = new Set(["node", "claim", "release", "lookup", "nodes", "leave", "ask", "workers"]);

/** A message from a worker, or null if it is not one (the supervisor ignores it, logged). */
export function toSupervisor(message: unknown): ToSupervisor | null {
  if (!isRecord(message)) return null;
  if (message.t === "ready") return { t: "ready", httpPort: typeof message.httpPort === "number" ? message.httpPort : null };
  if (typeof message.id !== "number") return null;
  if (message.t === "answer") return { t: "answer", id: message.id, result: message.result };
  // Both ends are this same executable: the op names the rest of the call's shape.
  return message.t === "call" && isRecord(message.call) && CALL_OPS.has(String(message.call.op)) ? (message as ToSupervisor) : null;
}

/** A message from the supervisor, or null if it is not one. */
export function toWorker(message: unknown): ToWorker | null {
  if (!isRecord(message)) return null;
  if (message.t === "stop") return { t: "stop" };
  if (message.t === "lost") return typeof message.key === "string" ? { t: "lost", key: message.key } : null;
  if (typeof message.id !== "number") return null;
  if (message.t === "reply") return { t: "reply", id: message.id, result: message.result };
  if (message.t === "query" && isRecord(message.query) && typeof message.query.what === "string") {
    const arg = message.query.arg;
    return { t: "query", id: message.id, query: { what: message.query.what, arg: typeof arg === "string" ? arg : undefined } };
  }
  return null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
