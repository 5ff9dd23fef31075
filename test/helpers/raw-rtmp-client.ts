/**
 * The interop tests' own client: TestRtmpClient speaks the protocol, and this wrapper adds what only
 * a test wants: a log of everything the server sent, waits on that log, raw bytes after connect (hostile
 * chunks), and a bare TCP connection for bytes that are no RTMP at all (garbage, RTMPE, TLS, silence). It
 * records when the connection closed and whether we asked for it.
 */
import type { Socket } from "bun";
import type { Amf0Value } from "../../src/protocol/amf0.ts";
import { type Command, decodeCommand, decodeData, stringField } from "../../src/protocol/command.ts";
import { type ControlMessage, decodeControl } from "../../src/protocol/control.ts";
import { MessageType, type RtmpMessage } from "../../src/protocol/message.ts";
import { TestRtmpClient } from "../../support/rtmp-test-client.ts";
import { waitFor } from "../../support/wait.ts";

/** One thing the server sent, in arrival order. */
export type ServerEvent =
  | { kind: "command"; streamId: number; command: Command; at: number }
  | { kind: "data"; streamId: number; name: string; args: Amf0Value[]; at: number }
  | { kind: "control"; control: ControlMessage; at: number }
  /** Audio (8) or video (9): the first two payload bytes say frame/codec type and packet type. */
  | { kind: "media"; type: 8 | 9; streamId: number; timestamp: number; head: number[]; size: number; at: number }
  | { kind: "other"; type: number; at: number };

export class RawRtmpClient {
  readonly events: ServerEvent[] = [];
  /** performance.now() before the TCP connect, and when the connection closed. */
  readonly openedAt = performance.now();
  closedAt: number | null = null;
  /** True if we closed it; a close we did not ask for was the server's. */
  closedLocally = false;
  /** Why the connection ended, if not by our own close(). */
  private closeError: Error | undefined;
  private readonly closed: Promise<void>;
  private markClosed!: () => void;
  /** Exactly one of the two is set. */
  private rtmp: TestRtmpClient | null = null;
  private tcp: Socket<undefined> | null = null;
  private tcpBytesReceived = 0;

  private constructor() {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  /** Handshake and `connect` to `app` done; everything the server sends from then on is recorded. */
  static async connect(port: number, app = "live"): Promise<RawRtmpClient> {
    const client = new RawRtmpClient();
    client.rtmp = await TestRtmpClient.connect(`rtmp://127.0.0.1:${port}/${app}`, {
      onMessage: (message) => client.record(message),
      onClose: (error) => client.onClose(error),
    });
    return client;
  }

  /** A TCP connection and nothing else: no handshake. */
  static async tcp(port: number): Promise<RawRtmpClient> {
    const client = new RawRtmpClient();
    client.tcp = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        binaryType: "uint8array",
        data: (_socket, bytes: Uint8Array) => {
          client.tcpBytesReceived += bytes.length;
        },
        close: (_socket, error) => client.onClose(error),
        error: (_socket, error) => client.onClose(error),
      },
    });
    return client;
  }

  get isClosed(): boolean {
    return this.closedAt !== null;
  }

  /** Bytes received, handshake included. */
  get bytesReceived(): number {
    return this.rtmp?.bytesReceived ?? this.tcpBytesReceived;
  }

  /** Bytes as they are: on a bare connection in one write (they are small), after connect behind what is queued. */
  write(bytes: Uint8Array): void {
    if (this.isClosed) return;
    if (this.rtmp !== null) return this.rtmp.sendRaw(bytes);
    const written = this.tcp!.write(bytes);
    if (written !== bytes.length) throw new Error(`the socket took ${written} of ${bytes.length} bytes`);
  }

  close(): void {
    if (this.isClosed) return;
    this.closedLocally = true;
    if (this.rtmp !== null) void this.rtmp.close();
    else this.tcp!.end();
  }

  /** Drop the connection at once with a TCP reset, as a crashing client or a lost route would. */
  reset(): void {
    if (this.isClosed) return;
    this.closedLocally = true;
    if (this.rtmp !== null) this.rtmp.abort();
    else this.tcp!.terminate();
  }

  /** Resolves true once the connection is closed, false if it is still open after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    await Promise.race([this.closed, Bun.sleep(timeoutMs)]);
    return this.isClosed;
  }

  /** createStream + play; resolves with the stream id once the server sent NetStream.Play.Start. */
  async play(name: string): Promise<number> {
    const rtmp = this.connected();
    const streamId = await rtmp.createStream();
    await rtmp.play(streamId, name);
    return streamId;
  }

  /**
   * createStream + publish; resolves with the info of the first onStatus that follows, refusals included.
   * `after(streamId)`: messages queued right behind the publish command, in the same write, as an encoder
   * sends its metadata and first frames before it has heard the answer.
   */
  async publish(name: string, after?: (streamId: number) => RtmpMessage[]): Promise<{ level?: string; code?: string }> {
    const rtmp = this.connected();
    const streamId = await rtmp.createStream();
    const seen = this.events.length;
    // A refusal rejects; the test asserts on the status the server sent, found in the log.
    const answered = rtmp.publish(streamId, name).catch(() => undefined);
    for (const message of after?.(streamId) ?? []) rtmp.send(message);
    await answered;
    const isStatus = (e: ServerEvent) => e.kind === "command" && e.command.name === "onStatus";
    const status = await this.waitFor(isStatus, 5_000, "onStatus after publish", seen);
    return { level: statusLevel(status), code: statusCode(status) };
  }

  /** The first recorded event at index `from` or later that matches, waiting up to `timeoutMs` for it. */
  async waitFor(match: (event: ServerEvent) => boolean, timeoutMs: number, what: string, from = 0): Promise<ServerEvent> {
    let found: ServerEvent | undefined;
    const arrived = () => (found = this.events.slice(from).find(match)) !== undefined || this.isClosed;
    await waitFor(arrived, timeoutMs, what, () => `got ${this.summary()}`);
    if (found === undefined) throw new Error(`connection closed before ${what}; got ${this.summary()}`);
    return found;
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
    const closed = this.isClosed ? `, closed${this.closeError === undefined ? "" : ` (${this.closeError.message})`}` : "";
    return `[${names.join(", ")}] + ${this.media().length} media messages, ${this.bytesReceived} bytes${closed}`;
  }

  private connected(): TestRtmpClient {
    if (this.rtmp === null) throw new Error("a bare TCP connection cannot play or publish: use RawRtmpClient.connect");
    return this.rtmp;
  }

  private record(message: RtmpMessage): void {
    const at = performance.now();
    switch (message.type) {
      case MessageType.Audio:
      case MessageType.Video:
        this.events.push({
          kind: "media",
          type: message.type,
          streamId: message.streamId,
          timestamp: message.timestamp,
          head: [message.payload[0] ?? -1, message.payload[1] ?? -1],
          size: message.payload.length,
          at,
        });
        return;
      case MessageType.CommandAmf0:
        this.events.push({ kind: "command", streamId: message.streamId, command: decodeCommand(message.payload), at });
        return;
      case MessageType.DataAmf0: {
        const data = decodeData(message.payload);
        this.events.push({ kind: "data", streamId: message.streamId, name: data.name, args: data.args, at });
        return;
      }
      case MessageType.SetChunkSize:
      case MessageType.Abort:
      case MessageType.Acknowledgement:
      case MessageType.WindowAckSize:
      case MessageType.SetPeerBandwidth:
      case MessageType.UserControl:
        this.events.push({ kind: "control", control: decodeControl(message.type, message.payload), at });
        return;
      default:
        this.events.push({ kind: "other", type: message.type, at });
    }
  }

  private onClose(error?: Error): void {
    if (this.closedAt !== null) return;
    this.closedAt = performance.now();
    this.closeError = error;
    this.markClosed();
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

/** How many video frames `client` received after `from` (a performance.now() time; all of them by default). */
export function videoFramesSince(client: RawRtmpClient, from = -Infinity): number {
  return client.media().filter((e) => isVideoFrame(e) && e.at > from).length;
}

/**
 * The steps between the timestamps of consecutive video frames `client` received that are not `frameMs`: []
 * when it got every frame of a constant-rate source, none skipped (dropped behind, or skipped to a keyframe).
 */
export function frameSkips(client: RawRtmpClient, frameMs: number): number[] {
  const stamps = client.media().filter(isVideoFrame).map((e) => e.timestamp);
  return stamps.slice(1).map((t, i) => t - stamps[i]).filter((step) => step !== frameMs);
}
