/**
 * The RTMP and RTMPS listeners' socket handlers: past max_connections a connection is refused, else it gets
 * a Session, which is fed its socket's bytes and drains and ends with its socket's close.
 */
import type { Socket } from "bun";
import { hostPort } from "../shared/host-port.ts";
import { type RemoteAddress, Session, type SessionContext, type SessionSettings } from "./session.ts";

export interface RtmpSocketData {
  session: Session | null;
}

export type RtmpHandlers = Parameters<typeof Bun.listen<RtmpSocketData>>[0]["socket"];

/**
 * The peer's address. Bun's types say a string, but a peer that reset before open() ran has none: the
 * address is then unknown ("" and 0), and the start goes on without it (the close event follows).
 */
function peerAddress(socket: Socket<RtmpSocketData>): RemoteAddress {
  return { ip: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
}

/**
 * Socket handlers for one listener ("rtmp", or "rtmps" on the TLS listener): past max_connections a
 * connection is refused, else it gets a Session (the connection table keeps it; see src/shared/connections.ts).
 */
export function rtmpHandlers(
  context: SessionContext,
  settings: Omit<SessionSettings, "protocol">,
  maxConnections: number,
  protocol: string,
): RtmpHandlers {
  const sessionSettings: SessionSettings = { ...settings, protocol };
  const { connections, log } = context;
  return {
    binaryType: "uint8array" as const,
    open: (socket: Socket<RtmpSocketData>) => {
      // socket.data starts out shared between sockets: every socket gets its own object.
      socket.data = { session: null };
      const remote = peerAddress(socket);
      const id = connections.reserve();
      if (id === null) {
        log.warn("connection refused: max_connections reached", { remote_addr: hostPort(remote.ip, remote.port), max: maxConnections });
        socket.end();
        return;
      }
      socket.data.session = new Session(id, remote, socket, context, sessionSettings);
    },
    // On the TLS listener a socket that closes or fails in its TLS handshake never had open(), nor its data.
    data: (socket: Socket<RtmpSocketData>, bytes: Uint8Array) => socket.data?.session?.onData(bytes),
    drain: (socket: Socket<RtmpSocketData>) => socket.data?.session?.onDrain(performance.now()),
    close: (socket: Socket<RtmpSocketData>) => socket.data?.session?.onSocketClosed(),
    error: (socket: Socket<RtmpSocketData>, error: Error) => {
      log.error("socket error", { conn_id: socket.data?.session?.id, error: error.message });
      socket.data?.session?.close("socket error");
    },
  };
}
