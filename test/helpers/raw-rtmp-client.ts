/**
 * A deliberately small RTMP client for the interop tests, built from the protocol modules: it can send any
 * bytes at any point (garbage before the handshake, hostile chunks after it), play or publish like FFmpeg,
 * stop reading on demand, and records everything the server sent, so a test can assert on the exact
 * replies and on when the server closed the socket. Not for production use: see src/relay/ for that.
 */
import type { Socket } from "bun";
import { ChunkReader } from "../../src/protocol/chunk-reader.ts";
import { ChunkWriter } from "../../src/protocol/chunk-writer.ts";
import { type Command, decodeCommand, decodeData, encodeCommand, stringField } from "../../src/protocol/command.ts";
import {
  type ControlMessage,
  UserControlEventType,
  acknowledgement,
  decodeControl,
  pingResponse,
} from "../../src/protocol/control.ts";
import { ClientHandshake } from "../../src/protocol/handshake.ts";
import { MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import type { Amf0Value } from "../../src/protocol/amf0.ts";
import { sleep } from "./media.ts";

/** One thing the server sent, in arrival order. */
export type ServerEvent =
  | { kind: "command"; streamId: number; command: Command; at: number }
  | { kind: "data"; streamId: number; name: string; args: Amf0Value[]; at: number }
  | { kind: "control"; control: ControlMessage; at: number }
  /** Audio (8) or video (9): the first two payload bytes say frame/codec type and packet type. */
  | { kind: "media"; type: 8 | 9; streamId: number; timestamp: number; head: number[]; size: number; at: number }
  | { kind: "other"; type: number; at: number };

interface Waiter {
  match: (event: ServerEvent) => boolean;
  resolve: (event: ServerEvent) => void;
  reject: (error: Error) => void;
}

const COMMAND_CSID = 3;
const STREAM_CSID = 8;

export class RawRtmpClient {
  readonly events: ServerEvent[] = [];
  /** Bytes received, handshake included. */
  bytesReceived = 0;
  /** performance.now() at open, at the first media byte, and when the socket closed. */
  readonly openedAt = performance.now();
  closedAt: number | null = null;
  /** True if we closed it; a close we did not ask for was the server's. */
  closedLocally = false;
  readonly closed: Promise<void>;

  private socket!: Socket<undefined>;
  private readonly handshake = new ClientHandshake();
  private handshakeDone = false;
  private handshakeWaiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  private readonly queue: Uint8Array[] = [];
  private waiters: Waiter[] = [];
  private transactionId = 1;
  private ackWindow = 0;
  private ackedAt = 0;
  private markClosed!: () => void;
  /** A protocol error in what the server sent (a test failure, reported by the next wait). */
  parseError: Error | null = null;

  private constructor() {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.reader = new ChunkReader((message) => this.onMessage(message), { maxMessageSize: 64 * 1024 * 1024 });
  }

  /** A TCP connection and nothing else: no handshake yet. */
  static async open(port: number, host = "127.0.0.1"): Promise<RawRtmpClient> {
    const client = new RawRtmpClient();
    client.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        binaryType: "uint8array",
        data: (_socket, bytes: Uint8Array) => client.onData(bytes),
        drain: () => client.flush(),
        close: () => client.onClose(),
        error: () => client.onClose(),
      },
    });
    return client;
  }

  get isClosed(): boolean {
    return this.closedAt !== null;
  }

  /** Raw bytes, in order, whatever the kernel takes now and the rest on drain. */
  write(bytes: Uint8Array): void {
    if (this.isClosed) return;
    this.queue.push(bytes);
    if (this.queue.length === 1) this.flush();
  }

  /** Stop reading from the socket: the server's writes pile up in the kernel buffers, then in its queue. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    if (this.isClosed) return;
    this.closedLocally = true;
    this.socket.end();
  }

  /** Resolves true once the socket is closed, false if it is still open after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    await Promise.race([this.closed, sleep(timeoutMs)]);
    return this.isClosed;
  }

  /** C0+C1 out, S0+S1+S2 in, C2 out. */
  async doHandshake(timeoutMs = 5_000): Promise<void> {
    const done = new Promise<void>((resolve, reject) => (this.handshakeWaiter = { resolve, reject }));
    this.write(this.handshake.start());
    await withTimeout(done, timeoutMs, "the server's handshake (S0+S1+S2)");
  }

  /** Sends a command message (type 20) through the stateful chunk writer. */
  sendCommand(name: string, transactionId: number, commandObject: Amf0Value, args: Amf0Value[], streamId = 0): void {
    this.sendMessage({
      csid: streamId === 0 ? COMMAND_CSID : STREAM_CSID,
      type: MessageType.CommandAmf0,
      streamId,
      timestamp: 0,
      payload: encodeCommand(name, transactionId, commandObject, ...args),
    });
  }

  sendMessage(message: RtmpMessage): void {
    this.write(this.writer.encode(message));
  }

  /** `connect` as FFmpeg sends it; resolves with the `_result` (throws on `_error` or silence). */
  async connect(app: string, timeoutMs = 5_000): Promise<Command> {
    const id = this.transactionId++;
    const address = this.socket.remoteAddress;
    this.sendCommand("connect", id, {
      app,
      flashVer: "LNX 9,0,124,2",
      tcUrl: `rtmp://${address}/${app}`,
      fpad: false,
      capabilities: 15,
      audioCodecs: 4071,
      videoCodecs: 252,
      videoFunction: 1,
    }, []);
    return this.result(id, "connect", timeoutMs);
  }

  /** `createStream`; resolves with the message stream id from `_result`. */
  async createStream(timeoutMs = 5_000): Promise<number> {
    const id = this.transactionId++;
    this.sendCommand("createStream", id, null, []);
    const reply = await this.result(id, "createStream", timeoutMs);
    const streamId = reply.args[0];
    if (typeof streamId !== "number") throw new Error(`createStream _result without a stream id: ${JSON.stringify(reply)}`);
    return streamId;
  }

  /** connect + createStream + play; resolves once the server sent NetStream.Play.Start. */
  async play(app: string, name: string, timeoutMs = 5_000): Promise<number> {
    await this.connect(app, timeoutMs);
    const streamId = await this.createStream(timeoutMs);
    this.sendCommand("play", 0, null, [name, -2000], streamId);
    await this.waitForStatus("NetStream.Play.Start", timeoutMs);
    return streamId;
  }

  /** connect + createStream + publish; resolves with the info object of the first onStatus that follows. */
  async publish(app: string, name: string, timeoutMs = 5_000): Promise<{ level?: string; code?: string }> {
    await this.connect(app, timeoutMs);
    const streamId = await this.createStream(timeoutMs);
    const seen = this.events.length;
    this.sendCommand("publish", 0, null, [name, "live"], streamId);
    const isStatus = (e: ServerEvent) => e.kind === "command" && e.command.name === "onStatus";
    const event = await this.waitFor(isStatus, timeoutMs, "onStatus after publish", seen);
    const info = event.kind === "command" ? event.command.args[0] : undefined;
    return { level: stringField(info ?? null, "level"), code: stringField(info ?? null, "code") };
  }

  /**
   * The first recorded event matching `match` at index `from` or later, waiting up to `timeoutMs` for it to
   * arrive.
   */
  waitFor(match: (event: ServerEvent) => boolean, timeoutMs: number, what: string, from = 0): Promise<ServerEvent> {
    const found = this.events.slice(from).find(match);
    if (found !== undefined) return Promise.resolve(found);
    if (this.parseError !== null) return Promise.reject(this.parseError);
    if (this.isClosed) return Promise.reject(new Error(`connection closed before ${what}; got ${this.summary()}`));
    const waiting = new Promise<ServerEvent>((resolve, reject) => this.waiters.push({ match, resolve, reject }));
    return withTimeout(waiting, timeoutMs, () => `${what}; got ${this.summary()}`);
  }

  /** An onStatus whose info.code is `code`. */
  waitForStatus(code: string, timeoutMs: number): Promise<ServerEvent> {
    const isStatus = (e: ServerEvent) => e.kind === "command" && e.command.name === "onStatus" && statusCode(e) === code;
    return this.waitFor(isStatus, timeoutMs, `onStatus ${code}`);
  }

  /** Media events only. */
  media(): Extract<ServerEvent, { kind: "media" }>[] {
    return this.events.filter((e): e is Extract<ServerEvent, { kind: "media" }> => e.kind === "media");
  }

  /** A one-line account of what arrived, for failure messages. */
  summary(): string {
    const names = this.events
      .filter((e) => e.kind !== "media")
      .map((e) => {
        if (e.kind === "command") return e.command.name === "onStatus" ? `onStatus(${statusCode(e)})` : e.command.name;
        if (e.kind === "data") return `data(${e.name})`;
        if (e.kind === "control") return "event" in e.control ? `uc(${e.control.event.eventType})` : `ctl(${e.control.type})`;
        return `type(${e.type})`;
      });
    const media = this.media().length;
    return `[${names.join(", ")}] + ${media} media messages, ${this.bytesReceived} bytes${this.isClosed ? ", closed" : ""}`;
  }

  private async result(transactionId: number, what: string, timeoutMs: number): Promise<Command> {
    const isReply = (e: ServerEvent) =>
      e.kind === "command" &&
      (e.command.name === "_result" || e.command.name === "_error") &&
      e.command.transactionId === transactionId;
    const event = await this.waitFor(isReply, timeoutMs, `the reply to ${what}`);
    if (event.kind !== "command" || event.command.name !== "_result") {
      throw new Error(`${what} was refused: ${JSON.stringify(event)}`);
    }
    return event.command;
  }

  private flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const n = this.socket.write(head);
      if (n < 0) {
        this.queue.length = 0;
        return;
      }
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
  }

  private onData(bytes: Uint8Array): void {
    this.bytesReceived += bytes.length;
    try {
      let rest: Uint8Array | null = bytes;
      if (!this.handshakeDone) {
        const step = this.handshake.push(bytes);
        if (step.send !== null) this.write(step.send.slice());
        rest = step.rest;
        if (step.done) {
          this.handshakeDone = true;
          this.handshakeWaiter?.resolve();
        }
      }
      if (rest !== null) this.reader.push(rest);
      if (this.ackWindow > 0 && this.bytesReceived - this.ackedAt >= this.ackWindow) {
        this.ackedAt = this.bytesReceived;
        this.sendMessage(acknowledgement(this.bytesReceived >>> 0));
      }
    } catch (error) {
      this.parseError = error instanceof Error ? error : new Error(String(error));
      this.handshakeWaiter?.reject(this.parseError);
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.parseError);
    }
  }

  private onMessage(message: RtmpMessage): void {
    const at = performance.now();
    let event: ServerEvent;
    switch (message.type) {
      case MessageType.Audio:
      case MessageType.Video:
        event = {
          kind: "media",
          type: message.type,
          streamId: message.streamId,
          timestamp: message.timestamp,
          head: [message.payload[0] ?? -1, message.payload[1] ?? -1],
          size: message.payload.length,
          at,
        };
        break;
      case MessageType.CommandAmf0:
        event = { kind: "command", streamId: message.streamId, command: decodeCommand(message.payload), at };
        break;
      case MessageType.DataAmf0: {
        const data = decodeData(message.payload);
        event = { kind: "data", streamId: message.streamId, name: data.name, args: data.args, at };
        break;
      }
      case MessageType.SetChunkSize:
      case MessageType.Abort:
      case MessageType.Acknowledgement:
      case MessageType.WindowAckSize:
      case MessageType.SetPeerBandwidth:
      case MessageType.UserControl: {
        const control = decodeControl(message.type, message.payload);
        event = { kind: "control", control, at };
        if (control.type === MessageType.WindowAckSize) this.ackWindow = control.windowSize;
        if (control.type === MessageType.UserControl && "event" in control) {
          if (control.event.eventType === UserControlEventType.PingRequest) {
            this.sendMessage(pingResponse(control.event.timestamp));
          }
        }
        break;
      }
      default:
        event = { kind: "other", type: message.type, at };
    }
    this.events.push(event);
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.match(event)) waiter.resolve(event);
      else still.push(waiter);
    }
    this.waiters = still;
  }

  private onClose(): void {
    if (this.closedAt !== null) return;
    this.closedAt = performance.now();
    this.markClosed();
    const error = new Error(`connection closed; got ${this.summary()}`);
    this.handshakeWaiter?.reject(error);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

/** The info.code of an onStatus event. */
export function statusCode(event: ServerEvent): string | undefined {
  return event.kind === "command" ? stringField(event.command.args[0] ?? null, "code") : undefined;
}

/** The info.level of an onStatus event. */
export function statusLevel(event: ServerEvent): string | undefined {
  return event.kind === "command" ? stringField(event.command.args[0] ?? null, "level") : undefined;
}

/** Whether the event is a User Control event of `eventType` (a UserControlEventType value). */
export function isUserControl(event: ServerEvent, eventType: number): boolean {
  return event.kind === "control" && "event" in event.control && event.control.event.eventType === eventType;
}

/** The stream id a User Control event names (Stream Begin, Stream EOF, ...), if it names one. */
export function userControlStreamId(event: ServerEvent): number | undefined {
  if (event.kind !== "control" || !("event" in event.control)) return undefined;
  return "streamId" in event.control.event ? event.control.event.streamId : undefined;
}

/** A video message that is a coded frame (not a sequence header): FLV AVC packet type 1. */
export function isVideoFrame(event: ServerEvent): boolean {
  return event.kind === "media" && event.type === 9 && event.head[1] === 1;
}

/** FLV video tag header: frame type 1 = keyframe (0x17 for AVC). */
export function isKeyframe(event: ServerEvent): boolean {
  return event.kind === "media" && event.type === 9 && event.head[0] >> 4 === 1;
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string | (() => string)): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const described = typeof what === "string" ? what : what();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${described}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
