/**
 * A relay destination that keeps, per connection, every message it received in order (decoded enough to
 * check: command and data names with their values, media kind and timestamp), and answers publish with
 * NetStream.Publish.Start unless the test says otherwise. Built on the scripted server.
 */
import type { TCPSocketListener } from "bun";
import type { Amf0Value } from "../../src/protocol/amf0.ts";
import { decodeCommand, decodeData } from "../../src/protocol/command.ts";
import { isAudioSequenceHeader, isVideoKeyframe, isVideoSequenceHeader } from "../../src/media/codec-info.ts";
import { MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import { type ScriptedConnection, type ScriptedPeer, scriptedServer, statusMessage } from "./scripted-server.ts";

export type Received =
  | { kind: "command"; name: string; commandObject: Amf0Value; args: Amf0Value[]; streamId: number }
  | { kind: "data"; name: string; args: Amf0Value[]; timestamp: number }
  | { kind: "video" | "audio"; timestamp: number; keyframe: boolean; header: boolean }
  | { kind: "control"; type: number };

export interface Connection {
  readonly index: number;
  /** performance.now() of its first message. */
  readonly at: number;
  readonly received: Received[];
  readonly peer: ScriptedPeer;
  closed: boolean;
}

export interface DestinationScript {
  /** The onStatus code a publish gets; default NetStream.Publish.Start, anything else is an error. */
  publishStatus?: (connection: Connection) => string;
  /** Called after each message is recorded. */
  onReceived?: (connection: Connection, message: Received) => void;
}

function summarize(m: RtmpMessage): Received {
  if (m.type === MessageType.CommandAmf0) {
    const { name, commandObject, args } = decodeCommand(m.payload);
    return { kind: "command", name, commandObject, args, streamId: m.streamId };
  }
  if (m.type === MessageType.DataAmf0) {
    const { name, args } = decodeData(m.payload);
    return { kind: "data", name, args, timestamp: m.timestamp };
  }
  if (m.type === MessageType.Video) {
    const header = isVideoSequenceHeader(m.payload);
    return { kind: "video", timestamp: m.timestamp, keyframe: !header && isVideoKeyframe(m.payload), header };
  }
  if (m.type === MessageType.Audio) {
    return { kind: "audio", timestamp: m.timestamp, keyframe: false, header: isAudioSequenceHeader(m.payload) };
  }
  return { kind: "control", type: m.type };
}

export class RecordingDestination {
  readonly connections: Connection[] = [];
  private readonly server: TCPSocketListener<ScriptedConnection>;

  constructor(script: DestinationScript = {}) {
    const byPeer = new Map<ScriptedPeer, Connection>();
    this.server = scriptedServer((m, peer) => {
      let connection = byPeer.get(peer);
      if (connection === undefined) {
        connection = { index: peer.index, at: performance.now(), received: [], peer, closed: false };
        byPeer.set(peer, connection);
        this.connections.push(connection);
      }
      const message = summarize(m);
      connection.received.push(message);
      if (message.kind === "command" && message.name === "publish") {
        const code = script.publishStatus?.(connection) ?? "NetStream.Publish.Start";
        // A refusal quotes the name as given, query and all, as real servers do.
        if (code === "NetStream.Publish.Start") peer.reply(statusMessage(m.streamId, "status", code));
        else peer.reply(statusMessage(m.streamId, "error", code, `${String(message.args[0])} is refused`));
      }
      script.onReceived?.(connection, message);
    });
  }

  get port(): number {
    return this.server.port;
  }

  /** Drop connection `connection` from this side, as a destination that goes away would. */
  drop(connection: Connection): void {
    connection.closed = true;
    connection.peer.socket.terminate();
  }

  stop(): void {
    this.server.stop(true);
  }
}

/** The command names of a connection, in order. */
export function commandNames(connection: Connection): string[] {
  return connection.received.flatMap((m) => (m.kind === "command" ? [m.name] : []));
}

/** What came after publish, as "kind[:detail]" strings: "data:@setDataFrame", "video:header", "video:key", "audio", ... */
export function mediaOutline(connection: Connection): string[] {
  const at = connection.received.findIndex((m) => m.kind === "command" && m.name === "publish");
  return connection.received.slice(at + 1).flatMap((m): string[] => {
    if (m.kind === "data") return [`data:${m.name}`];
    if (m.kind === "video") return [m.header ? "video:header" : m.keyframe ? "video:key" : "video"];
    if (m.kind === "audio") return [m.header ? "audio:header" : "audio"];
    if (m.kind === "command") return [`command:${m.name}`];
    return [];
  });
}

/** Timestamps of one kind of message, in arrival order. */
export function timestamps(connection: Connection, kind: "video" | "audio" | "data"): number[] {
  return connection.received.flatMap((m) => (m.kind === kind ? [m.timestamp] : []));
}
