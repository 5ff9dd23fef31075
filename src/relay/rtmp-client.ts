/**
 * An outbound RTMP or RTMPS connection on Bun.connect: handshake, connect / createStream / publish or play,
 * with the session's Outbox as its send queue and the lifecycle every connection has
 * (src/shared/lifecycle.ts). The relay pushes streams with it, and the cluster pulls them. It answers pings
 * and acknowledges what it receives, and hands every message to onMessage; it does not reconnect. A
 * subclass may add commands (request()).
 */
import type { Socket } from "bun";
import { ChunkReader, DEFAULT_CHUNK_READER_LIMITS, type PayloadStore } from "../protocol/chunk-reader.ts";
import { ChunkWriter } from "../protocol/chunk-writer.ts";
import { decodeCommand, encodeCommand, stringField } from "../protocol/command.ts";
import type { Command } from "../protocol/command.ts";
import type { Amf0Object, Amf0Value } from "../protocol/amf0.ts";
import { setChunkSize } from "../protocol/control.ts";
import { ClientHandshake } from "../protocol/handshake.ts";
import { Csid, MessageType } from "../protocol/message.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { PeerControl } from "../protocol/peer-control.ts";
import { urlHost } from "../shared/host-port.ts";
import { Lifecycle, Phase } from "../shared/lifecycle.ts";
import { Outbox } from "../shared/outbox.ts";

export interface RtmpClientOptions {
  /** Outbound chunk size, announced with Set Chunk Size once connected. Default 4096. */
  chunkSize?: number;
  /** Limit for TCP connect + handshake + connect reply, and for each later command reply. Default 5000 ms. */
  timeoutMs?: number;
  /** A socket that takes none of the bytes waiting for this long drops the connection (check()). Default never. */
  writeTimeoutMs?: number;
  /** Bytes queued and not yet taken by the socket above which the connection is closed. Default 16 MiB. */
  maxQueueBytes?: number;
  /** Largest message the server may send (max_message_size); larger closes the connection. Default 16 MiB. */
  maxMessageSize?: number;
  /**
   * Every message received after the handshake, media included, once the client has handled it. The payload
   * may be a view into a reused buffer, valid during the call: copy it to keep it.
   */
  onMessage?: (message: RtmpMessage) => void;
  /** Where media payloads are assembled (a pull's frame slabs, as for a publisher's session); else the reader's buffers. */
  store?: PayloadStore;
  /**
   * Called once when a connection that connect() resolved is gone: no error after close(), an Error for
   * anything else. A failed connect() only rejects.
   */
  onClose?: (err?: Error) => void;
  /** Fields added to the connect command's object (the relay's hop count). */
  connectFields?: Amf0Object;
  /** Aborting it drops the connection at once, during connect() or after; onClose then gets an error. */
  signal?: AbortSignal;
}

/** Where an rtmp:// or rtmps:// URL points, split the way FFmpeg splits it. */
export interface RtmpUrl {
  /** rtmps://: RTMP inside TLS. */
  tls: boolean;
  host: string;
  port: number;
  /** First path segment. */
  app: string;
  /** The rest of the path, plus the query if any; may be empty. */
  name: string;
  /** rtmp://host:port/app (rtmps:// for TLS), sent in the connect command. */
  tcUrl: string;
}

/** A command refused by the server: `code` is the status code it sent (e.g. NetStream.Publish.BadName). */
export class RtmpStatusError extends Error {
  override readonly name = "RtmpStatusError";
  constructor(
    readonly code: string,
    description: string,
  ) {
    super(description ? `${code}: ${description}` : code);
  }
}

export function parseRtmpUrl(url: string): RtmpUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`"${url}" is not a URL`);
  }
  if (u.protocol !== "rtmp:" && u.protocol !== "rtmps:") throw new Error(`"${url}": only rtmp:// and rtmps:// URLs are supported`);
  if (u.hostname === "") throw new Error(`"${url}" has no host`);
  const path = u.pathname.replace(/^\/+/, "");
  const slash = path.indexOf("/");
  const app = slash < 0 ? path : path.slice(0, slash);
  if (app === "") throw new Error(`"${url}" has no application name in its path`);
  const name = (slash < 0 ? "" : path.slice(slash + 1)) + u.search;
  return { ...rtmpEndpoint(u, app), app, name };
}

/** Where an rtmp:// or rtmps:// URL connects, and the tcUrl that names `app` there. */
export function rtmpEndpoint(u: URL, app: string): Pick<RtmpUrl, "tls" | "host" | "port" | "tcUrl"> {
  const tls = u.protocol === "rtmps:";
  // FFmpeg's defaults: 1935 for RTMP, 443 for RTMPS.
  const port = u.port !== "" ? Number(u.port) : tls ? 443 : 1935;
  return { tls, host: urlHost(u), port, tcUrl: `${u.protocol}//${u.hostname}:${port}/${app}` };
}

/** A caller waiting for a command reply (by transaction id) and/or an onStatus (by message stream id). */
interface Waiter {
  what: string;
  txn: number;
  /** Message stream whose onStatus settles this waiter, or -1. */
  streamId: number;
  /** The onStatus code that means success. */
  startCode: string;
  resolve(reply: Command): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const CONNECT_TXN = 1;

function tlsReason(err: Error | null): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : (err?.message ?? "unknown reason");
}

function statusError(info: Amf0Value, fallbackCode: string): RtmpStatusError {
  return new RtmpStatusError(stringField(info, "code") ?? fallbackCode, stringField(info, "description") ?? "");
}

export class RtmpClient {
  /** Set once TCP (and TLS) is connected. */
  protected socket: Socket<undefined> | null = null;
  /** Created with the socket. */
  private outbox: Outbox | null = null;
  private readonly handshake = new ClientHandshake();
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  private readonly timeoutMs: number;
  private readonly maxQueueBytes: number;

  private nextTxn = CONNECT_TXN + 1;
  private readonly waiters = new Set<Waiter>();
  private readonly byTxn = new Map<number, Waiter>();
  private readonly byStream = new Map<number, Waiter>();

  private readonly control = new PeerControl();

  /**
   * Opening until the server accepted connect (the connect reply's deadline bounds it), Serving after;
   * close() flushes, half-closes and gives the server timeoutMs to close its side.
   */
  private readonly life: Lifecycle;
  /** Bun reported the socket closed: nothing left to terminate. */
  private socketGone = false;
  /** connect() resolved: from then on the end of the connection is reported through onClose. */
  private established = false;
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;
  private readonly onAbort = (): void => this.fail(new Error("aborted"));

  protected constructor(
    readonly url: RtmpUrl,
    private readonly opts: RtmpClientOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxQueueBytes = opts.maxQueueBytes ?? 16 * 1024 * 1024;
    const maxMessageSize = opts.maxMessageSize ?? DEFAULT_CHUNK_READER_LIMITS.maxMessageSize;
    // Two messages of the largest size may be in flight at once, as a session allows its peers.
    this.reader = new ChunkReader((m) => this.receive(m), { maxMessageSize, maxPartialBytes: 2 * maxMessageSize }, opts.store);
    this.closedPromise = new Promise((resolve) => (this.markClosed = resolve));
    const client = this;
    this.life = new Lifecycle(
      {
        get outbox() {
          return client.outbox;
        },
        // A server that stopped reading would not read a FIN behind what is queued either.
        discardCuts: true,
        release: () => {},
        // Not end(): in Bun 1.4.5 a client's end() while the peer is still sending (acks, pings) closes with
        // SO_LINGER 0, an RST that discards whatever the kernel has not delivered yet.
        halfClose: () => this.socket?.shutdown(),
        // Quiet once all was handed over (the server just did not close its side in time).
        cut: (reason) => this.fail(this.life.halfClosed ? undefined : new Error(`${reason}, ${this.queuedBytes} bytes unsent`)),
      },
      // Its owner's sweep runs check() (the write timeout); a client has no idle rule.
      { startMs: Infinity, readMs: Infinity, writeMs: opts.writeTimeoutMs ?? Infinity, lingerMs: this.timeoutMs },
      null,
    );
  }

  /**
   * TCP connect (and TLS for rtmps://), handshake and the connect command; resolves once the server accepted
   * the connect. `url` is a URL string or one parseRtmpUrl() split (or a caller built).
   */
  static connect(url: string | RtmpUrl, opts: RtmpClientOptions = {}): Promise<RtmpClient> {
    let target: RtmpUrl;
    try {
      target = typeof url === "string" ? parseRtmpUrl(url) : url;
    } catch (err) {
      return Promise.reject(err);
    }
    return new RtmpClient(target, opts).open();
  }

  /** Every byte received from the socket, handshake included. */
  get bytesReceived(): number {
    return this.control.bytesReceived;
  }

  /** Bytes the socket has taken. */
  get bytesSent(): number {
    return this.outbox?.bytesSent ?? 0;
  }

  /** Bytes sent with send() (or by the client itself) that the socket has not taken yet. */
  get queuedBytes(): number {
    return this.outbox?.queuedBytes ?? 0;
  }

  /**
   * The send queue itself, for a caller that queues shared frames laid out for this connection (the relay).
   * Its writes interleave with the client's own in queue order. Exists once connect() has resolved.
   */
  get sendQueue(): Outbox {
    if (this.outbox === null) throw new Error("sendQueue: not connected");
    return this.outbox;
  }

  async createStream(): Promise<number> {
    const reply = await this.request("createStream", 0, "", (txn) => encodeCommand("createStream", txn, null));
    const id = reply.args[0];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new Error(`createStream: the server answered with ${String(id)}, not a stream id`);
    }
    return id;
  }

  /** Resolves on NetStream.Publish.Start; rejects with an RtmpStatusError on an error status or _error. */
  async publish(streamId: number, name: string): Promise<void> {
    // Sent unanswered before publish, as FFmpeg and OBS do: some servers expect them.
    this.sendCommand(0, encodeCommand("releaseStream", this.nextTxn++, null, name));
    this.sendCommand(0, encodeCommand("FCPublish", this.nextTxn++, null, name));
    await this.request("publish", streamId, "NetStream.Publish.Start", (txn) => encodeCommand("publish", txn, null, name, "live"));
  }

  /**
   * Resolves on NetStream.Play.Start; rejects with an RtmpStatusError on an error status or _error. The
   * stream's messages then come to onMessage.
   */
  async play(streamId: number, name: string): Promise<void> {
    // Start -2: live if there is a live stream of that name, else recorded.
    await this.request("play", streamId, "NetStream.Play.Start", (txn) => encodeCommand("play", txn, null, name, -2));
  }

  /** End a publish as FFmpeg does: FCUnpublish, then deleteStream; queued after whatever was sent before. */
  unpublish(streamId: number, name: string): void {
    this.sendCommand(0, encodeCommand("FCUnpublish", this.nextTxn++, null, name));
    this.sendCommand(0, encodeCommand("deleteStream", this.nextTxn++, null, streamId));
  }

  /**
   * Queue a message; it is written at the end of this event-loop turn, together with everything else queued
   * in it. Dropped once close() was called or the connection is gone (onClose said why).
   */
  send(message: RtmpMessage): void {
    if (this.life.phase >= Phase.Closing) return;
    this.enqueue(this.writer.encode(message));
  }

  /**
   * Send what is queued, then close. Resolves once the connection is gone. If the queue has not drained
   * within timeoutMs the socket is dropped and onClose gets an error; if it has but the server has not
   * closed its side by then, the socket is dropped quietly.
   */
  close(): Promise<void> {
    this.life.close("closed by the client");
    return this.closedPromise;
  }

  /** The owner's sweep: a socket stuck past writeTimeoutMs drops the connection (onClose gets why). */
  check(now: number): void {
    this.life.check(now);
  }

  /** Drop the connection at once, sending nothing more (a deadline has passed). onClose gets no error. */
  abort(): void {
    this.fail();
  }

  /**
   * Send a command and wait for its answer: its _result (by transaction id), or with `startCode` the onStatus
   * on `streamId` that carries that code. An error status or _error rejects with an RtmpStatusError; so do
   * the reply deadline (timeoutMs) and the connection's end.
   */
  protected request(what: string, streamId: number, startCode: string, command: (txn: number) => Uint8Array): Promise<Command> {
    const txn = this.nextTxn++;
    const answered = this.wait(what, txn, startCode === "" ? -1 : streamId, startCode);
    this.sendCommand(streamId, command(txn));
    return answered;
  }

  /** Every message received after the handshake: control is answered, command replies settle their waiters. */
  private receive(m: RtmpMessage): void {
    if (m.type === MessageType.WindowAckSize || m.type === MessageType.UserControl) {
      const reply = this.control.onControl(m);
      if (reply !== null) this.enqueue(this.writer.encode(reply));
    } else if (m.type === MessageType.CommandAmf0) {
      this.onCommand(m.streamId, decodeCommand(m.payload));
    }
    this.opts.onMessage?.(m);
  }

  /** Queue bytes as they are, behind what is queued; dropped once our side is half-closed or the connection is gone. */
  protected enqueue(bytes: Uint8Array): void {
    const outbox = this.outbox;
    // After our FIN, replies the client owes the server (acks, pongs) can no longer be sent.
    if (outbox === null || this.life.phase === Phase.Closed || this.life.halfClosed) return;
    outbox.push(bytes);
    if (outbox.queuedBytes > this.maxQueueBytes) {
      this.fail(new Error(`send queue over ${this.maxQueueBytes} bytes: the server is not reading`));
    }
  }

  protected open(): Promise<this> {
    // One deadline for TCP connect, handshake and the connect reply.
    const connected = this.wait("connect", CONNECT_TXN, -1, "");
    const { signal } = this.opts;
    if (signal?.aborted === true) this.onAbort();
    signal?.addEventListener("abort", this.onAbort, { once: true });
    Bun.connect({
      hostname: this.url.host,
      port: this.url.port,
      // Bun verifies the certificate chain and the host name unless told otherwise, which we never do.
      tls: this.url.tls ? true : undefined,
      socket: {
        binaryType: "uint8array",
        open: (socket) => {
          if (this.life.phase === Phase.Closed) {
            socket.terminate();
            return;
          }
          this.socket = socket;
          this.outbox = new Outbox(socket);
          // Over TLS this waits in the queue until the TLS handshake is done (the drain after it).
          this.enqueue(this.handshake.start());
        },
        handshake: (_socket, success, authorizationError) => {
          if (!success) this.fail(new Error(`TLS: the server's certificate is not trusted (${tlsReason(authorizationError)})`));
        },
        data: (_socket, bytes) => this.guard(() => this.onData(bytes)),
        drain: () => this.guard(() => this.life.drained(performance.now())),
        close: (_socket, err) => {
          this.socketGone = true;
          this.fail(this.life.phase === Phase.Closing ? err : (err ?? new Error("connection closed by the server")));
        },
        error: (_socket, err) => this.fail(err),
        connectError: (_socket, err) => this.fail(err),
      },
    }).catch((err: Error) => this.fail(err));
    return connected.then(() => {
      // The socket can close between the _result and this continuation; fail() then stayed silent.
      if (this.life.phase === Phase.Closed) throw new Error("connect: the connection closed right after the server accepted it");
      this.enqueue(this.writer.encode(setChunkSize(this.opts.chunkSize ?? 4096)));
      this.writer.chunkSize = this.opts.chunkSize ?? 4096;
      this.established = true;
      this.life.serve();
      return this;
    });
  }

  private onData(bytes: Uint8Array): void {
    this.control.received(bytes.length);
    this.life.received(bytes.length);
    if (!this.handshake.done) {
      const step = this.handshake.push(bytes);
      if (step.send !== null) this.enqueue(step.send);
      if (!step.done) return;
      this.sendCommand(0, this.connectCommand());
      if (step.rest === null) return;
      bytes = step.rest;
    }
    this.reader.push(bytes);
    const ack = this.control.ackDue();
    if (ack !== null) this.enqueue(this.writer.encode(ack));
  }

  private sendCommand(streamId: number, payload: Uint8Array): void {
    const csid = streamId === 0 ? Csid.Command : Csid.StreamCommand;
    this.enqueue(this.writer.encode({ csid, type: MessageType.CommandAmf0, streamId, timestamp: 0, payload }));
  }

  private connectCommand(): Uint8Array {
    const { app, tcUrl } = this.url;
    // The union of what FFmpeg sends as publisher and as player, so either role works afterwards.
    return encodeCommand("connect", CONNECT_TXN, {
      app,
      type: "nonprivate",
      flashVer: "FMLE/3.0 (compatible; bun-rtmp)",
      tcUrl,
      fpad: false,
      capabilities: 15,
      audioCodecs: 3191,
      videoCodecs: 252,
      videoFunction: 1,
      ...this.opts.connectFields,
    });
  }

  private onCommand(streamId: number, cmd: Command): void {
    if (cmd.name === "_result" || cmd.name === "_error") {
      const w = this.byTxn.get(cmd.transactionId);
      if (w === undefined) return;
      if (cmd.name === "_error") w.reject(statusError(cmd.args[0], `${w.what} refused`));
      // A _result for publish or play only acknowledges the command; the onStatus decides.
      else if (w.streamId < 0) w.resolve(cmd);
    } else if (cmd.name === "onStatus") {
      const w = this.byStream.get(streamId);
      if (w === undefined) return;
      const info = cmd.args[0];
      if (stringField(info, "level") === "error") w.reject(statusError(info, `${w.what} failed`));
      else if (stringField(info, "code") === w.startCode) w.resolve(cmd);
    }
  }

  /** Registers a waiter for a command about to be sent; it is rejected on timeout or close. */
  private wait(what: string, txn: number, streamId: number, startCode: string): Promise<Command> {
    return new Promise((resolve, reject) => {
      if (this.life.phase >= Phase.Closing) return reject(new Error(`${what}: the connection is closed`));
      if (streamId >= 0 && this.byStream.has(streamId)) {
        return reject(new Error(`${what}: stream ${streamId} is already waiting for a status`));
      }
      const done = (w: Waiter): void => {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        this.byTxn.delete(w.txn);
        if (w.streamId >= 0) this.byStream.delete(w.streamId);
      };
      const w: Waiter = {
        what,
        txn,
        streamId,
        startCode,
        resolve: (reply) => {
          done(w);
          resolve(reply);
        },
        reject: (err) => {
          done(w);
          reject(err);
        },
        timer: setTimeout(() => w.reject(new Error(`${what}: no reply within ${this.timeoutMs} ms`)), this.timeoutMs),
      };
      this.waiters.add(w);
      this.byTxn.set(txn, w);
      if (streamId >= 0) this.byStream.set(streamId, w);
    });
  }

  /** Runs a socket-side step; anything it throws (a protocol error, an onMessage) closes this connection. */
  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** The one way out: the lifecycle ends, the socket is dropped, whoever waits is rejected, onClose told. Runs once. */
  private fail(err?: Error): void {
    if (this.life.phase === Phase.Closed) return;
    this.life.ended();
    this.reader.close();
    this.opts.signal?.removeEventListener("abort", this.onAbort);
    const why = err ?? new Error("the connection is closed");
    for (const w of [...this.waiters]) w.reject(why);
    if (!this.socketGone) this.socket?.terminate();
    this.markClosed();
    if (!this.established) return;
    try {
      this.opts.onClose?.(err);
    } catch {
      // The connection is already gone and nothing is left to close: a throwing onClose has nowhere to go.
    }
  }
}
