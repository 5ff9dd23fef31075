/**
 * One worker of `workers` > 1 as the rest of the server sees it: which worker it is (handed over by the
 * supervisor in an environment variable), the public ports it shares with the others, its channel to the
 * supervisor, and its cluster identity, reached by the other nodes on a private RTMP port of its own.
 */
import type { WorkerChannel } from "./worker-channel.ts";

/** The environment variable that makes a process a worker: JSON of WorkerStart. */
export const WORKER_ENV = "RTMP_SERVER_WORKER";

/** The public ports every worker binds with SO_REUSEPORT, resolved by the supervisor (no 0 among them). */
export interface SharedPorts {
  readonly rtmp: number;
  readonly rtmps: number | null;
  readonly http: number | null;
}

/** What the supervisor tells a worker it starts. */
export interface WorkerStart {
  readonly index: number;
  readonly count: number;
  readonly ports: SharedPorts;
  /** The cluster.secret the workers sign their pulls with, made up by the supervisor; "" = the config's. */
  readonly secret: string;
}

/** What the server gets when its process is a worker (ServerEnvironment.worker). */
export interface WorkerNode extends WorkerStart {
  readonly channel: WorkerChannel;
}

export function encodeWorkerStart(start: WorkerStart): string {
  return JSON.stringify(start);
}

/** The WorkerStart in the variable's value, or null (not a worker: the variable is absent or not the supervisor's). */
export function decodeWorkerStart(value: string | undefined): WorkerStart | null {
  if (value === undefined) return null;
  try {
    const start = JSON.parse(value) as WorkerStart;
    return Number.isInteger(start.index) && Number.isInteger(start.count) && Number.isInteger(start.ports?.rtmp) ? start : null;
  } catch {
    return null;
  }
}

/** A worker's node id in the cluster: the machine's node id and its index. */
export function workerNodeId(nodeId: string, index: number): string {
  return `${nodeId}/w${index}`;
}

/** What a worker's connection ids start with: "w1-c000001" is worker 1's. */
export function workerConnectionPrefix(index: number): string {
  return `w${index}-`;
}

/** The worker whose connection id this is, or null (an id of a server without workers). */
export function workerOfConnection(id: string): number | null {
  const match = /^w(\d+)-/.exec(id);
  return match === null ? null : Number(match[1]);
}

/** One per core for `workers: 0`. */
export function workerCount(configured: number): number {
  return configured === 0 ? navigator.hardwareConcurrency : configured;
}
