/**
 * The RTMPS listener. Certificates are re-read on reload() without a restart: a new listener with the new
 * certificate binds the same port (SO_REUSEPORT) before the old one stops accepting, so no connection is
 * refused in between and established connections keep their TLS session.
 */
import type { TCPSocketListener } from "bun";
import type { Logger } from "../logger.ts";
import { hostPort } from "../shared/host-port.ts";
import type { RtmpHandlers, RtmpSocketData } from "./listener.ts";

/** A certificate chain and its key, as PEM text. */
export interface TlsCertificate {
  cert: string;
  key: string;
}

export class TlsListener {
  private listener: TCPSocketListener<RtmpSocketData>;

  /** `load` reads and checks the certificate files (and throws, naming the file, when they are not right). */
  constructor(
    private readonly address: { host: string; port: number },
    private readonly handlers: RtmpHandlers,
    private readonly load: () => TlsCertificate,
    /** The certificate file, for the log. */
    private readonly certFile: string,
    private readonly log: Logger,
    /** A worker of several joins the port its siblings share (the supervisor checked that it was free). */
    shared = false,
  ) {
    // SO_REUSEPORT would let a second server share the port silently: make sure it is free first.
    if (!shared) Bun.listen({ hostname: address.host, port: address.port, socket: { data() {} } }).stop(true);
    this.listener = this.bind();
    log.info("listening", { address: hostPort(address.host, this.listener.port), protocol: "rtmps" });
  }

  get port(): number {
    return this.listener.port;
  }

  reload(): void {
    let next: TCPSocketListener<RtmpSocketData>;
    try {
      next = this.bind(this.listener.port);
    } catch (e) {
      // A renewal half-written, or a key that does not match: keep serving with what works.
      this.log.error("TLS certificate reload failed: keeping the current one", { error: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.listener.stop(false);
    this.listener = next;
    this.log.info("TLS certificate reloaded", { cert: this.certFile });
  }

  stop(closeActive: boolean): void {
    this.listener.stop(closeActive);
  }

  private bind(port = this.address.port): TCPSocketListener<RtmpSocketData> {
    const { cert, key } = this.load();
    return Bun.listen<RtmpSocketData>({
      hostname: this.address.host,
      port,
      // Typed only for connect, but honoured by listen (bun-notes §1.1).
      ...({ reusePort: true } as object),
      tls: { cert, key },
      socket: this.handlers,
    });
  }
}
