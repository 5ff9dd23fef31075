/**
 * A publisher that writes the way FFmpeg's RTMP muxer does (seen with strace): Nagle left on, and every
 * message as separate send() calls: the first chunk's header, then each chunk's payload and each FMT3
 * continuation header on its own. The server then sees many small reads, as it does from a real encoder.
 */
import type { Socket } from "bun";
import { ChunkReader } from "../src/protocol/chunk-reader.ts";
import { ChunkWriter } from "../src/protocol/chunk-writer.ts";
import { type Command, decodeCommand, encodeCommand, stringField } from "../src/protocol/command.ts";
import { setChunkSize } from "../src/protocol/control.ts";
import { ClientHandshake } from "../src/protocol/handshake.ts";
import { Csid, MessageType, type RtmpMessage } from "../src/protocol/message.ts";
import { PeerControl } from "../src/protocol/peer-control.ts";
import { parseRtmpUrl } from "../src/relay/rtmp-client.ts";

export interface PiecewisePublisherOptions {
  /** Outbound chunk size. Default 4096, FFmpeg's. */
  chunkSize?: number;
  /** Limit for connect + handshake + commands up to NetStream.Publish.Start. Default 10000 ms. */
  timeoutMs?: number;
  /** Called once when a publisher that publish() resolved is gone, with an Error unless close() was called. */
  onClose?: (err?: Error) => void;
}

/** Bytes left unsent by the kernel above which the server is taken to have stopped reading. */
export const MAX_UNSENT_BYTES = 8 * 1024 * 1024;

/** Message header bytes after the basic header, by chunk format (FMT0..3). */
const MESSAGE_HEADER = [11, 7, 3, 0];
const CONNECT_TXN = 1;
const CREATE_STREAM_TXN = 4;
const PUBLISH_TXN = 5;

/**
 * Where FFmpeg's separate writes of one encoded message end: after the first header, after each chunk's
 * payload, after each continuation header. `payloadLength` tells the headers apart from the payload, which
 * also reveals whether they carry an extended timestamp.
 */
export function pieceEnds(encoded: Uint8Array, payloadLength: number, chunkSize: number): number[] {
  const fmt = encoded[0] >> 6;
  const low = encoded[0] & 0x3f;
  const basic = low === 0 ? 2 : low === 1 ? 3 : 1;
  const chunks = Math.max(1, Math.ceil(payloadLength / chunkSize));
  const extended = (encoded.length - payloadLength - basic * chunks - MESSAGE_HEADER[fmt]) / chunks;
  let at = basic + MESSAGE_HEADER[fmt] + extended;
  const ends = [at];
  for (let sent = 0; sent < payloadLength; ) {
    const n = Math.min(chunkSize, payloadLength - sent);
    sent += n;
    ends.push((at += n));
    if (sent < payloadLength) ends.push((at += basic + extended));
  }
  return ends;
}

export class PiecewisePublisher {
  private socket: Socket<undefined> | null = null;
  private readonly handshake = new ClientHandshake();
  private readonly reader = new ChunkReader((m) => this.receive(m));
  private readonly writer = new ChunkWriter();
  private readonly control = new PeerControl();
  /** Pieces the kernel has not taken yet, in order; written one by one again on drain. */
  private readonly unsent: Uint8Array[] = [];
  private unsentBytes = 0;
  private publishing = false;
  private closed = false;
  /** The message stream createStream gave us; media goes on it. */
  streamId = 0;
  private started!: { resolve: () => void; reject: (err: Error) => void };
  private startTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly url: ReturnType<typeof parseRtmpUrl>,
    private readonly opts: PiecewisePublisherOptions,
  ) {}

  /** Connects and publishes the URL's stream name; resolves on NetStream.Publish.Start. */
  static publish(url: string, opts: PiecewisePublisherOptions = {}): Promise<PiecewisePublisher> {
    let target: ReturnType<typeof parseRtmpUrl>;
    try {
      target = parseRtmpUrl(url);
    } catch (err) {
      return Promise.reject(err);
    }
    return new PiecewisePublisher(target, opts).open();
  }

  /** Writes a message now, piece by piece; dropped once the publisher is closed. */
  send(message: RtmpMessage): void {
    if (this.closed) return;
    const encoded = this.writer.encode(message);
    let start = 0;
    for (const end of pieceEnds(encoded, message.payload.length, this.writer.chunkSize)) {
      this.writePiece(encoded.subarray(start, end));
      start = end;
    }
  }

  close(): void {
    this.fail();
  }

  private open(): Promise<PiecewisePublisher> {
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const started = new Promise<void>((resolve, reject) => (this.started = { resolve, reject }));
    this.startTimer = setTimeout(
      () => this.fail(new Error(`no NetStream.Publish.Start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    Bun.connect({
      hostname: this.url.host,
      port: this.url.port,
      socket: {
        binaryType: "uint8array",
        open: (socket) => {
          if (this.closed) return socket.terminate();
          this.socket = socket;
          socket.setNoDelay(false);
          this.writePiece(this.handshake.start());
        },
        data: (_socket, bytes) => this.guard(() => this.onData(bytes)),
        drain: () => this.guard(() => this.flush()),
        close: (_socket, err) => {
          this.socket = null;
          this.fail(err ?? new Error("connection closed by the server"));
        },
        error: (_socket, err) => this.fail(err),
        connectError: (_socket, err) => this.fail(err),
      },
    }).catch((err: Error) => this.fail(err));
    return started.then(() => this);
  }

  private onData(bytes: Uint8Array): void {
    this.control.received(bytes.length);
    if (!this.handshake.done) {
      const step = this.handshake.push(bytes);
      if (step.send !== null) this.writePiece(step.send);
      if (!step.done) return;
      this.send(setChunkSize(this.opts.chunkSize ?? 4096));
      this.writer.chunkSize = this.opts.chunkSize ?? 4096;
      const { app, tcUrl } = this.url;
      this.sendCommand(0, encodeCommand("connect", CONNECT_TXN, { app, type: "nonprivate", flashVer: "FMLE/3.0", tcUrl }));
      if (step.rest === null) return;
      bytes = step.rest;
    }
    this.reader.push(bytes);
    const ack = this.control.ackDue();
    if (ack !== null) this.send(ack);
  }

  private receive(m: RtmpMessage): void {
    if (m.type === MessageType.WindowAckSize || m.type === MessageType.UserControl) {
      const reply = this.control.onControl(m);
      if (reply !== null) this.send(reply);
    } else if (m.type === MessageType.CommandAmf0) {
      this.onCommand(decodeCommand(m.payload));
    }
  }

  /** The publish sequence FFmpeg runs: connect, then releaseStream + FCPublish + createStream, then publish. */
  private onCommand(cmd: Command): void {
    const name = this.url.name;
    if (cmd.name === "_error" || (cmd.name === "onStatus" && stringField(cmd.args[0], "level") === "error")) {
      throw new Error(`${cmd.name}: ${stringField(cmd.args[0], "code") ?? "refused"}`);
    }
    if (cmd.name === "_result" && cmd.transactionId === CONNECT_TXN) {
      this.sendCommand(0, encodeCommand("releaseStream", 2, null, name));
      this.sendCommand(0, encodeCommand("FCPublish", 3, null, name));
      this.sendCommand(0, encodeCommand("createStream", CREATE_STREAM_TXN, null));
    } else if (cmd.name === "_result" && cmd.transactionId === CREATE_STREAM_TXN) {
      const id = cmd.args[0];
      if (typeof id !== "number") throw new Error(`createStream answered ${String(id)}, not a stream id`);
      this.streamId = id;
      this.sendCommand(id, encodeCommand("publish", PUBLISH_TXN, null, name, "live"));
    } else if (cmd.name === "onStatus" && stringField(cmd.args[0], "code") === "NetStream.Publish.Start") {
      clearTimeout(this.startTimer);
      this.publishing = true;
      this.started.resolve();
    }
  }

  private sendCommand(streamId: number, payload: Uint8Array): void {
    const csid = streamId === 0 ? Csid.Command : Csid.StreamCommand;
    this.send({ csid, type: MessageType.CommandAmf0, streamId, timestamp: 0, payload });
  }

  /** One send() per piece, like FFmpeg; what the kernel does not take waits for drain, in order. */
  private writePiece(piece: Uint8Array): void {
    if (this.socket === null) return;
    if (this.unsent.length > 0) return this.keep(piece);
    const n = this.socket.write(piece);
    if (n < 0) return this.fail(new Error("write on a closed socket"));
    if (n < piece.length) this.keep(piece.subarray(n));
  }

  private keep(piece: Uint8Array): void {
    this.unsent.push(piece);
    this.unsentBytes += piece.length;
    if (this.unsentBytes > MAX_UNSENT_BYTES) {
      this.fail(new Error(`over ${MAX_UNSENT_BYTES} bytes unsent: the server is not reading`));
    }
  }

  private flush(): void {
    while (this.unsent.length > 0 && this.socket !== null) {
      const piece = this.unsent[0];
      const n = this.socket.write(piece);
      if (n < 0) return this.fail(new Error("write on a closed socket"));
      this.unsentBytes -= n;
      if (n < piece.length) {
        this.unsent[0] = piece.subarray(n);
        return;
      }
      this.unsent.shift();
    }
  }

  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** The one way out; runs once. Before Publish.Start the error rejects publish(), after it goes to onClose. */
  private fail(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.startTimer);
    this.socket?.terminate();
    this.socket = null;
    this.unsent.length = 0;
    if (!this.publishing) this.started.reject(err ?? new Error("closed before NetStream.Publish.Start"));
    else this.opts.onClose?.(err);
  }
}
