/**
 * The cluster section of the config, and this node's identity in the cluster: its id and the RTMP base URL the
 * other nodes reach it at, which default to the host name and the RTMP listener (known once it is bound).
 */
import { hostname } from "node:os";
import { hostPort } from "../shared/host-port.ts";
import type { Owner } from "./registry.ts";

export interface ClusterSettings {
  /** "" = hostname:rtmp-port. */
  nodeId: string;
  /** RTMP base URL ("rtmp://host:port"); "" = rtmp://{listen}. */
  advertise: string;
  /** redis:// or rediss:// URL; "" = no shared registry. */
  redis: string;
  /** RTMP base URLs to pull from, in order, when a stream is not published here. */
  origins: string[];
  /** Shared by the nodes: a node's pull is signed with it and passes play auth. */
  secret: string;
  pullIdleMs: number;
}

/** What a node id may hold: it is part of Redis keys and of logs. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The node id and advertise URL, the empty ones filled in from the host name and the bound RTMP address. */
export function nodeIdentity(settings: Pick<ClusterSettings, "nodeId" | "advertise">, rtmpHost: string, rtmpPort: number): Owner {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100) || "node";
  return {
    nodeId: settings.nodeId === "" ? `${host}:${rtmpPort}` : settings.nodeId,
    advertise: settings.advertise === "" ? advertiseUrl(rtmpHost, rtmpPort) : settings.advertise,
  };
}

/** A listen host other nodes cannot dial: the advertise URL must then be set for a cluster across machines. */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}

/** The RTMP base URL other nodes reach a listener bound at `host`:`port` by. */
export function advertiseUrl(host: string, port: number): string {
  return `rtmp://${hostPort(host, port)}`;
}
