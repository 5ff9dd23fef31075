/**
 * A scripted RTMP server on 127.0.0.1 for client-side tests: it completes the handshake, answers connect and
 * createStream itself, and hands every message (those two included) to the test with a `reply` that sends
 * through its own chunk writer.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { Amf0Value } from "../../src/protocol/amf0.ts";
import { ChunkReader } from "../../src/protocol/chunk-reader.ts";
import { ChunkWriter } from "../../src/protocol/chunk-writer.ts";
import { decodeCommand, encodeCommand, statusInfo } from "../../src/protocol/command.ts";
import { ServerHandshake } from "../../src/protocol/handshake.ts";
import { Csid, MessageType, type RtmpMessage } from "../../src/protocol/message.ts";

export interface ScriptedPeer {
  reply(m: RtmpMessage): void;
  readonly socket: Socket<ScriptedConnection>;
  /** Accept order of this connection, from 1. */
  readonly index: number;
}

export interface ScriptedConnection {
  feed(bytes: Uint8Array): void;
}

/** `onMessage` gets payloads that may be views into reused buffers: decode or copy what it keeps. */
export function scriptedServer(onMessage: (m: RtmpMessage, peer: ScriptedPeer) => void): TCPSocketListener<ScriptedConnection> {
  let accepted = 0;
  return Bun.listen<ScriptedConnection>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        const handshake = new ServerHandshake();
        const writer = new ChunkWriter();
        const peer: ScriptedPeer = {
          socket,
          index: ++accepted,
          // Test messages are small: a short write here would be a broken test, so fail loudly.
          reply(m) {
            const bytes = writer.encode(m);
            if (socket.write(bytes) !== bytes.length) throw new Error("scripted server: short write");
          },
        };
        const result = (txn: number, value: Amf0Value) => {
          const payload = encodeCommand("_result", txn, null, value);
          peer.reply({ csid: Csid.Command, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload });
        };
        const reader = new ChunkReader((m) => {
          if (m.type === MessageType.CommandAmf0) {
            const cmd = decodeCommand(m.payload);
            if (cmd.name === "connect") result(1, statusInfo("status", "NetConnection.Connect.Success", ""));
            if (cmd.name === "createStream") result(cmd.transactionId, 1);
          }
          onMessage(m, peer);
        });
        let shaken = false;
        socket.data = {
          feed(bytes) {
            if (!shaken) {
              const step = handshake.push(bytes);
              if (step.send !== null) socket.write(step.send);
              shaken = step.done;
              if (step.rest === null) return;
              bytes = step.rest;
            }
            reader.push(bytes);
          },
        };
      },
      data(socket, bytes) {
        socket.data.feed(bytes);
      },
    },
  });
}

export function statusMessage(streamId: number, level: "status" | "error", code: string, description = "scripted"): RtmpMessage {
  const payload = encodeCommand("onStatus", 0, null, statusInfo(level, code, description));
  return { csid: Csid.StreamCommand, type: MessageType.CommandAmf0, streamId, timestamp: 0, payload };
}
