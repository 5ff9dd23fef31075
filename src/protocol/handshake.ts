/**
 * The RTMP simple handshake (version 3, no digest, no RTMPE) for both ends, as incremental state machines fed
 * whatever byte slices the socket delivers. They say what to send and hand back the bytes that follow the
 * handshake, which are the first chunks; timeouts and socket writes belong to the caller.
 */
import { ProtocolError } from "./errors.ts";

/** What one push produced. */
export interface HandshakeStep {
  /** Bytes to write to the peer now, or null. Do not modify them: the handshake still reads them. */
  send: Uint8Array | null;
  /** True once the handshake is complete. */
  done: boolean;
  /** Bytes after the handshake (a view into the pushed slice), to pass to the chunk reader; null if none. */
  rest: Uint8Array | null;
}

export interface HandshakeOptions {
  /** Clock for the 4-byte time field of C1/S1, in ms. Default: Date.now. */
  now?: () => number;
  /** Fills the random part of C1/S1. Default: crypto.getRandomValues. */
  randomFill?: (bytes: Uint8Array) => void;
}

const VERSION = 3;
const BLOCK = 1536;
/** What each side receives: a version byte, the peer's block (C1/S1), then the echo of ours (C2/S2). */
const PEER_TOTAL = 1 + 2 * BLOCK;

function describeVersion(byte: number): string {
  const hex = `0x${byte.toString(16).padStart(2, "0")}`;
  if (byte === 0x06 || byte === 0x08 || byte === 0x09) return `${hex} (RTMPE, encrypted RTMP) is not supported`;
  // A TLS ClientHello starts with 0x16: an rtmps:// client pointed at a plain RTMP port.
  if (byte === 0x16) return `${hex} looks like a TLS handshake (rtmps:// to a plain RTMP port?)`;
  return `${hex} is not supported, only 0x03 is`;
}

/**
 * Fills our C1/S1 block: time (u32 BE, ms, wrapping), four zero bytes, random. The zero "version" tells
 * FFmpeg there is no digest to validate, so it accepts the block as is.
 */
function fillBlock(block: Uint8Array, opts: HandshakeOptions): void {
  const now = opts.now ?? Date.now;
  new DataView(block.buffer, block.byteOffset, 8).setUint32(0, now() >>> 0);
  block.fill(0, 4, 8);
  const randomFill = opts.randomFill ?? ((b: Uint8Array) => crypto.getRandomValues(b));
  randomFill(block.subarray(8));
}

/**
 * What both ends share: the peer sends a version byte, a block we echo (copied straight into `peerBlock`,
 * which is also what we send, so nothing else is buffered), then a block that should echo ours (compared
 * byte by byte as it arrives, never buffered).
 */
abstract class Handshake {
  private received = 0;
  private echoMismatch = false;

  protected abstract readonly side: "client" | "server";
  /** Where the peer's C1/S1 is copied to as it arrives. */
  protected abstract readonly peerBlock: Uint8Array;
  /** Our C1/S1, which the peer's second block should equal. */
  protected abstract ourBlock(): Uint8Array;
  /** Called once the peer's C1/S1 is complete; returns what to send. */
  protected abstract peerBlockDone(): Uint8Array;

  get done(): boolean {
    return this.received === PEER_TOTAL;
  }

  protected get echoMatches(): boolean {
    return this.done && !this.echoMismatch;
  }

  /** Feeds received bytes. After `done`, every pushed byte comes back as `rest`. */
  push(bytes: Uint8Array): HandshakeStep {
    let at = 0;
    let send: Uint8Array | null = null;
    while (at < bytes.length && !this.done) {
      if (this.received === 0) {
        // Checked on the first byte so that an HTTP or TLS client is turned away at once, not after 1536 bytes.
        if (bytes[0] !== VERSION) {
          const what = this.side === "server" ? "C0" : "S0";
          throw new ProtocolError("handshake.version", `${what} version ${describeVersion(bytes[0])}`);
        }
        this.received = 1;
        at = 1;
      } else if (this.received <= BLOCK) {
        const n = Math.min(1 + BLOCK - this.received, bytes.length - at);
        this.peerBlock.set(bytes.subarray(at, at + n), this.received - 1);
        this.received += n;
        at += n;
        if (this.received === 1 + BLOCK) send = this.peerBlockDone();
      } else {
        const ours = this.ourBlock();
        const offset = this.received - 1 - BLOCK;
        const n = Math.min(PEER_TOTAL - this.received, bytes.length - at);
        for (let i = 0; i < n; i++) if (bytes[at + i] !== ours[offset + i]) this.echoMismatch = true;
        this.received += n;
        at += n;
      }
    }
    return { send, done: this.done, rest: at < bytes.length ? bytes.subarray(at) : null };
  }
}

/** Server side: C0+C1 in → S0+S1+S2 out in one write → C2 in. */
export class ServerHandshake extends Handshake {
  protected readonly side = "server";
  /** S0+S1+S2, built in place: C1 is copied straight into the S2 slot. */
  private readonly reply = new Uint8Array(1 + 2 * BLOCK);
  protected readonly peerBlock = this.reply.subarray(1 + BLOCK);

  constructor(private readonly opts: HandshakeOptions = {}) {
    super();
  }

  /** Whether C2 echoed S1. Not enforced (clients differ); for logging once `done`. */
  get c2MatchesS1(): boolean {
    return this.echoMatches;
  }

  protected ourBlock(): Uint8Array {
    return this.reply.subarray(1, 1 + BLOCK);
  }

  protected peerBlockDone(): Uint8Array {
    this.reply[0] = VERSION;
    fillBlock(this.ourBlock(), this.opts);
    return this.reply;
  }
}

/** Client side: C0+C1 out (`start`) → S0+S1 in → C2 out → S2 in. */
export class ClientHandshake extends Handshake {
  protected readonly side = "client";
  private readonly c0c1 = new Uint8Array(1 + BLOCK);
  /** C2, filled in place as S1 arrives. */
  protected readonly peerBlock = new Uint8Array(BLOCK);
  private started = false;

  constructor(private readonly opts: HandshakeOptions = {}) {
    super();
  }

  /** Builds C0+C1, to be sent in one write before anything is pushed. */
  start(): Uint8Array {
    this.c0c1[0] = VERSION;
    fillBlock(this.ourBlock(), this.opts);
    this.started = true;
    return this.c0c1;
  }

  override push(bytes: Uint8Array): HandshakeStep {
    if (!this.started) throw new Error("ClientHandshake.push called before start()");
    return super.push(bytes);
  }

  /** Whether S2 echoed C1. Not enforced (servers differ); for logging once `done`. */
  get s2MatchesC1(): boolean {
    return this.echoMatches;
  }

  protected ourBlock(): Uint8Array {
    return this.c0c1.subarray(1);
  }

  protected peerBlockDone(): Uint8Array {
    return this.peerBlock;
  }
}
