/**
 * One benchmark HLS viewer's HTTP/1.1 connection: GET requests one after another on a single keep-alive
 * socket, as a player's own connection to its server. Bun's fetch shares one pool of at most 64 idle
 * sockets per process, so hundreds of viewers polling through it would open a new connection for most
 * requests and the server would be measured accepting them. It counts every byte it receives.
 */
import type { Socket } from "bun";
import { HttpResponseReader } from "./http-response-reader.ts";

export interface HttpReply {
  status: number;
  body: Uint8Array;
}

/** Past this a body is refused: the largest an HLS segment of the bench's streams comes near is a few MB. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

interface Pending {
  resolve(reply: HttpReply): void;
  reject(err: Error): void;
  status: number;
  pieces: Uint8Array[];
  bytes: number;
}

export class KeepAliveConnection {
  bytesReceived = 0;
  private socket: Socket<undefined> | null = null;
  private reader: HttpResponseReader | null = null;
  private pending: Pending | null = null;
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    /** Sent with every request: the server tells viewers apart by it. */
    private readonly userAgent: string,
  ) {}

  /** GET `path` (with its query); one request at a time. Rejects when the connection fails or closes first. */
  async get(path: string, timeoutMs: number): Promise<HttpReply> {
    if (this.closed) throw new Error("connection closed");
    if (this.pending !== null) throw new Error("a request is already waiting on this connection");
    const socket = this.socket ?? (await this.connect());
    const reply = new Promise<HttpReply>((resolve, reject) => {
      this.pending = { resolve, reject, status: 0, pieces: [], bytes: 0 };
    });
    const timer = setTimeout(() => this.fail(new Error(`no reply to GET ${path} within ${timeoutMs} ms`)), timeoutMs);
    const request = `GET ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\nuser-agent: ${this.userAgent}\r\n\r\n`;
    // A few hundred bytes always fit in an idle socket's send buffer; less means the socket is gone.
    if (socket.write(request) < request.length) this.fail(new Error(`GET ${path}: the request could not be sent`));
    try {
      return await reply;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    this.fail(new Error("connection closed"));
  }

  private async connect(): Promise<Socket<undefined>> {
    const reader = new HttpResponseReader(
      (status) => {
        if (this.pending !== null) this.pending.status = status;
      },
      (bytes) => this.body(bytes),
      () => this.complete(),
    );
    const socket = await Bun.connect({
      hostname: this.host,
      port: this.port,
      socket: {
        binaryType: "uint8array",
        data: (s, bytes: Uint8Array) => this.receive(s, bytes),
        close: (s) => this.lost(s, new Error("the server closed the connection")),
        error: (s, err) => this.lost(s, err),
      },
    });
    if (this.closed) {
      socket.terminate();
      throw new Error("connection closed");
    }
    this.socket = socket;
    this.reader = reader;
    return socket;
  }

  private receive(socket: Socket<undefined>, bytes: Uint8Array): void {
    if (socket !== this.socket) return;
    this.bytesReceived += bytes.length;
    try {
      if (this.pending === null) throw new Error("bytes from the server with no request waiting");
      this.reader!.push(bytes);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private body(bytes: Uint8Array): void {
    const p = this.pending!;
    p.bytes += bytes.length;
    if (p.bytes > MAX_BODY_BYTES) throw new Error(`a body over ${MAX_BODY_BYTES} bytes`);
    p.pieces.push(bytes);
  }

  private complete(): void {
    const p = this.pending!;
    this.pending = null;
    const body = p.pieces.length === 1 ? p.pieces[0] : new Uint8Array(p.bytes);
    if (p.pieces.length > 1) {
      let at = 0;
      for (const piece of p.pieces) {
        body.set(piece, at);
        at += piece.length;
      }
    }
    p.resolve({ status: p.status, body });
  }

  /** The socket ended: an idle one is simply replaced by the next request; a request waiting on it fails. */
  private lost(socket: Socket<undefined>, err: Error): void {
    if (socket !== this.socket) return;
    this.socket = this.reader = null;
    this.fail(err);
  }

  /** Drops the socket (its state is unknown now) and rejects the waiting request, if any. */
  private fail(err: Error): void {
    const socket = this.socket;
    this.socket = this.reader = null;
    socket?.terminate();
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }
}
