/**
 * One RTMP connection: handshake, control burst, then messages from the chunk reader dispatched to protocol
 * control, commands (connect, createStream, publish, play, ...) and media. What happens on publish or play
 * is here; what happens to the stream afterwards is the registry's (src/streams/). A protocol error or a
 * throw closes this session only, logged once with its reason.
 */
import type { EventChannel } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { RtmpLayout } from "../media/rtmp-layout.ts";
import { splitAggregate } from "../protocol/aggregate.ts";
import { Amf0Reader, type Amf0Value } from "../protocol/amf0.ts";
import { ChunkReader } from "../protocol/chunk-reader.ts";
import { ChunkWriter } from "../protocol/chunk-writer.ts";
import {
  decodeCommand,
  encodeCommand,
  encodeData,
  numberField,
  objectField,
  statusInfo,
  stringField,
} from "../protocol/command.ts";
import {
  pingRequest,
  PeerBandwidthLimit,
  setChunkSize,
  setPeerBandwidth,
  streamBegin,
  streamEof,
  windowAckSize,
} from "../protocol/control.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { ServerHandshake } from "../protocol/handshake.ts";
import { Csid, MessageType, type RtmpMessage, type StoredPayload } from "../protocol/message.ts";
import { PeerControl } from "../protocol/peer-control.ts";
import type { AccessCheck, AuthAction, AuthDecision } from "../shared/access.ts";
import type { Connection, ConnectionTable } from "../shared/connections.ts";
import { hostPort } from "../shared/host-port.ts";
import type { Peer, Playback, Publication, StreamHub } from "../shared/hub.ts";
import { LINGER_MS, Lifecycle, Phase } from "../shared/lifecycle.ts";
import type { ServerStats } from "../shared/server-stats.ts";
import { Outbox, type Writable } from "../shared/outbox.ts";
import { cleanApp, parseStreamName, type StreamName } from "../shared/stream-name.ts";

export interface SessionSettings {
  /** "rtmp", or "rtmps" on the TLS listener. */
  protocol: string;
  chunkSize: number;
  maxMessageSize: number;
  handshakeMs: number;
  readMs: number;
  writeMs: number;
}

export interface Socket extends Writable {
  /** Half-close: send FIN, keep reading until the peer closes. */
  shutdown(): void;
  end(): void;
  /** Stop and restart reading (while an auth decision is pending, the peer's bytes wait in the kernel). */
  pause(): void;
  resume(): void;
}

/** What a session works with besides its socket: where streams live, who decides access, where it is accounted. */
export interface SessionContext {
  hub: StreamHub;
  access: AccessCheck;
  events: EventChannel;
  log: Logger;
  stats: ServerStats;
  connections: ConnectionTable;
}

/** The peer's address; "" and 0 if it reset before its address could be read. */
export interface RemoteAddress {
  ip: string;
  port: number;
}

/** Window we ask peers to acknowledge, and the bandwidth we announce: the values FMS and the reference use. */
const WINDOW_ACK_SIZE = 2_500_000;
/**
 * What we tell an Enhanced RTMP client (one that sent fourCcList, a FourCcInfoMap or capsEx in connect):
 * every codec is forwarded as it came (FourCcInfoMask.CanForward = 4 for "*"), and multitrack, ModEx and
 * nanosecond offsets pass through (CapsExMask 0x02 | 0x04 | 0x08). A legacy client gets the legacy reply.
 */
const ENHANCED_CAPABILITIES: Record<string, Amf0Value> = {
  fourCcList: ["*"],
  videoFourCcInfoMap: { "*": 4 },
  audioFourCcInfoMap: { "*": 4 },
  capsEx: 0x02 | 0x04 | 0x08,
};

function isEnhancedClient(obj: Amf0Value): boolean {
  return ["fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx"].some((key) => objectField(obj, key) !== undefined);
}

/** AMF3 data and command messages from AMF0 clients are AMF0 behind a one-byte format marker. */
function amf0Body(m: RtmpMessage): Uint8Array {
  return m.type === MessageType.DataAmf3 || m.type === MessageType.CommandAmf3 ? m.payload.subarray(1) : m.payload;
}

/** createStream calls one connection may make; real clients make one or two. */
const MAX_STREAMS = 16;

interface NetStream {
  publication: Publication | null;
  playback: Playback | null;
  /** The published key, for FCUnpublish and logs. */
  key: string;
}

/**
 * Its lifecycle (src/shared/lifecycle.ts) is Opening during the handshake (timeouts.handshake), Serving from
 * the handshake's end, and a quiet peer is pinged at half of timeouts.read.
 */
export class Session implements Peer, Connection {
  readonly outbox: Outbox;
  readonly log: Logger;
  readonly protocol: string;
  /** What the connection did: "publisher" once it published, "player" once it played, else "". */
  role: "" | "publisher" | "player" = "";
  /** The last stream key it published or played, for the API and connection_close. */
  streamKey = "";
  /** Unix milliseconds when accepted. */
  readonly since = Date.now();
  private readonly life: Lifecycle;
  private readonly handshake = new ServerHandshake();
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  /** connect's app as sent, ?query included: the query may hold the auth token for publish/play. */
  private connectApp = "";
  /** connect's tcUrl query (OBS puts a token in the server field): the lowest-priority credentials. */
  private tcUrlQuery: Record<string, string> = {};
  /** Relays this stream came through before reaching us (0 for an encoder), from connect's relayHops. */
  relayHops = 0;
  /** While an access answer is awaited, later messages wait here, in order. */
  private held: RtmpMessage[] = [];
  private readonly netStreams = new Map<number, NetStream>();
  private nextStreamId = 1;
  private readonly control = new PeerControl();

  readonly remoteAddress: string;
  private readonly hub: StreamHub;
  private readonly events: EventChannel;

  constructor(
    readonly id: string,
    readonly remote: RemoteAddress,
    private readonly socket: Socket,
    private readonly context: SessionContext,
    private readonly settings: SessionSettings,
  ) {
    this.protocol = settings.protocol;
    this.remoteAddress = hostPort(remote.ip, remote.port);
    this.hub = context.hub;
    this.events = context.events;
    this.log = context.log.child({ conn_id: id });
    this.outbox = new Outbox(socket);
    // Two messages of the largest size may be in flight at once (a video frame interleaved with another).
    this.reader = new ChunkReader(
      (m) => this.onMessage(m),
      { maxMessageSize: settings.maxMessageSize, maxPartialBytes: 2 * settings.maxMessageSize },
      { reserve: (type, streamId, length) => this.reserve(type, streamId, length) },
    );
    const { connections: table, stats, events } = context;
    this.life = new Lifecycle(
      {
        outbox: this.outbox,
        discardCuts: false,
        release: () => this.release(),
        // Not end(): Bun's end() resets a socket whose peer is still sending, which throws away what it has not read.
        halfClose: () => socket.shutdown(),
        cut: () => socket.end(),
        probe: (now) => this.send(pingRequest(Math.floor(now) >>> 0)),
      },
      { startMs: settings.handshakeMs, readMs: settings.readMs, writeMs: settings.writeMs, lingerMs: LINGER_MS },
      { connection: this, table, log: this.log, stats, events },
    );
  }

  /** performance.now() of the last byte received. */
  get lastReadAt(): number {
    return this.life.lastReadAt;
  }

  /** Bytes from the socket. Never throws: a failure closes this session. */
  onData(bytes: Uint8Array): void {
    if (this.life.phase >= Phase.Closing) return;
    this.life.received(bytes.length);
    this.control.received(bytes.length);
    try {
      if (this.life.phase === Phase.Opening) {
        const step = this.handshake.push(bytes);
        if (step.send !== null) this.outbox.push(step.send);
        if (!step.done) return;
        this.startRtmp();
        if (step.rest !== null) this.reader.push(step.rest);
      } else {
        this.reader.push(bytes);
      }
      const ack = this.control.ackDue();
      if (ack !== null) this.send(ack);
    } catch (e) {
      this.fail(e);
    }
  }

  /** The sweep: handshake deadline, stuck writes, idle peers (pinged first). */
  tick(now: number): void {
    this.life.check(now);
  }

  get bytesIn(): number {
    return this.control.bytesReceived;
  }

  get bytesOut(): number {
    return this.outbox.bytesSent;
  }

  send(message: RtmpMessage): void {
    if (this.life.phase < Phase.Closing) this.outbox.push(this.writer.encode(message));
  }

  publishChanged(streamId: number, streamKey: string, published: boolean): void {
    if (published) {
      this.send(streamBegin(streamId));
      this.sendStatus(streamId, "status", "NetStream.Play.PublishNotify", `${streamKey} is now published.`);
    } else {
      this.sendStatus(streamId, "status", "NetStream.Play.UnpublishNotify", `${streamKey} is now unpublished.`);
      this.send(streamEof(streamId));
    }
  }

  sendStatus(streamId: number, level: "status" | "error", code: string, description: string): void {
    this.sendCommand(streamId, "onStatus", 0, null, statusInfo(level, code, description));
  }

  /** Close from our side (Lifecycle.close): flushed, or with `discard` thrown away, then half-closed. */
  close(reason: string, discard = false): void {
    this.life.close(reason, discard);
  }

  onDrain(now: number): void {
    this.life.drained(now);
  }

  /** The socket closed (the peer, or us): the single place a session ends. */
  onSocketClosed(): void {
    this.life.ended();
    this.reader.close();
  }

  /** Closing: end this connection's streams, and read again (the peer's close is how a closing connection ends). */
  private release(): void {
    for (const ns of this.netStreams.values()) this.endNetStream(ns);
    this.netStreams.clear();
    this.held = [];
    this.socket.resume();
  }

  private fail(e: unknown): void {
    if (e instanceof ProtocolError) {
      this.log.warn("protocol error", { rule: e.rule, error: e.message, remote_addr: this.remoteAddress });
      this.close(`protocol error: ${e.rule}`);
    } else {
      this.log.error("session failed", { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      this.close("internal error");
    }
  }

  private startRtmp(): void {
    this.life.serve();
    this.log.debug("handshake complete", { c2_matches_s1: this.handshake.c2MatchesS1 });
    this.events.emit("handshake_complete", { connId: this.id }, { remote_addr: this.remoteAddress });
    this.send(windowAckSize(WINDOW_ACK_SIZE));
    this.send(setPeerBandwidth(WINDOW_ACK_SIZE, PeerBandwidthLimit.Dynamic));
    this.send(setChunkSize(this.settings.chunkSize));
    this.writer.chunkSize = this.settings.chunkSize;
  }

  private onMessage(m: RtmpMessage): void {
    if (this.life.phase !== Phase.Serving) return;
    if (this.life.awaitingAccess > 0) {
      // The payload is only valid during this call (the reader reuses its buffers): keep a copy.
      this.held.push({ ...m, payload: m.payload.slice(), stored: undefined });
      return;
    }
    switch (m.type) {
      case MessageType.Audio:
      case MessageType.Video:
        this.publicationFor(m.streamId)?.media(m);
        return;
      case MessageType.Aggregate:
        splitAggregate(m, (sub) => {
          // Only media and data may be packed; anything else inside an aggregate is ignored.
          if (sub.type === MessageType.Audio || sub.type === MessageType.Video || sub.type === MessageType.DataAmf0) {
            this.onMessage(sub);
          }
        });
        return;
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.onData0(m, amf0Body(m));
        return;
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.onCommand(m, amf0Body(m));
        return;
      case MessageType.WindowAckSize:
      case MessageType.UserControl: {
        const reply = this.control.onControl(m);
        if (reply !== null) this.send(reply);
        return;
      }
      default:
        // Set Chunk Size and Abort are applied by the chunk reader; acks, bandwidth and the rest need nothing.
        return;
    }
  }

  /**
   * Room for audio or video being assembled, in the frame slabs of the publication it is for, so that it is
   * copied there once (chunk-reader.ts's PayloadStore). Null while media would be held for a check, or for
   * a stream this connection does not publish: the reader's own buffer then.
   */
  private reserve(type: number, streamId: number, length: number): StoredPayload | null {
    if (type !== MessageType.Audio && type !== MessageType.Video) return null;
    if (this.life.phase !== Phase.Serving || this.life.awaitingAccess > 0) return null;
    return this.publicationFor(streamId)?.reserve(length) ?? null;
  }

  /**
   * Media for a stream id this connection publishes. A connection that did not publish can never inject
   * frames. Some encoders send media on a stream id other than the one they published on; with exactly one
   * publication on the connection that is unambiguous, so it is accepted.
   */
  private publicationFor(streamId: number): Publication | null {
    const ns = this.netStreams.get(streamId);
    if (ns?.publication) return ns.publication;
    let only: Publication | null = null;
    for (const other of this.netStreams.values()) {
      if (other.publication === null) continue;
      if (only !== null) return null;
      only = other.publication;
    }
    return only;
  }

  private onData0(m: RtmpMessage, payload: Uint8Array): void {
    const publication = this.publicationFor(m.streamId);
    if (publication === null) return;
    const name = new Amf0Reader(payload).readValue();
    if (typeof name !== "string") throw new ProtocolError("data.name", "a data message must start with a string name");
    publication.data(payload === m.payload ? m : { ...m, type: MessageType.DataAmf0, payload }, name);
  }

  private sendCommand(streamId: number, name: string, txn: number, obj: Amf0Value, ...args: Amf0Value[]): void {
    this.send({
      csid: streamId === 0 ? Csid.Command : Csid.StreamCommand,
      type: MessageType.CommandAmf0,
      streamId,
      timestamp: 0,
      payload: encodeCommand(name, txn, obj, ...args),
    });
  }

  private sendError(txn: number, code: string, description: string): void {
    this.sendCommand(0, "_error", txn, null, statusInfo("error", code, description));
  }

  private onCommand(m: RtmpMessage, payload: Uint8Array): void {
    const cmd = decodeCommand(payload);
    const txn = cmd.transactionId;
    const arg = (i: number) => cmd.args[i];
    this.log.debug("command", { name: cmd.name, txn, stream_id: m.streamId });
    switch (cmd.name) {
      case "connect":
        return this.onConnect(txn, cmd.commandObject);
      case "createStream":
        return this.onCreateStream(txn);
      case "releaseStream":
        // Asked before publish by OBS and FFmpeg; there is nothing to release beyond what publish decides.
        return this.sendCommand(0, "_result", txn, null);
      case "FCPublish":
        return this.sendCommand(0, "onFCPublish", 0, null, statusInfo("status", "NetStream.Publish.Start", String(arg(0) ?? "")));
      case "publish":
        return this.onPublish(m.streamId, arg(0));
      case "play":
        return this.onPlay(m.streamId, arg(0));
      case "FCUnpublish":
        this.sendCommand(0, "onFCUnpublish", 0, null, statusInfo("status", "NetStream.Unpublish.Success", String(arg(0) ?? "")));
        return this.stopPublishing(String(arg(0) ?? ""));
      case "deleteStream": {
        const id = arg(0);
        if (typeof id === "number") this.closeNetStream(id);
        return;
      }
      case "closeStream":
        return this.closeNetStream(m.streamId);
      case "getStreamLength":
        // Live streams have no length; FFmpeg's player asks anyway.
        return this.sendCommand(0, "_result", txn, null, 0);
      case "_result":
      case "_error":
      case "onBWDone":
        return;
      default:
        this.log.info("unsupported command", { name: cmd.name });
        return this.sendError(txn, "NetConnection.Call.Failed", `Method not supported: ${cmd.name}.`);
    }
  }

  private onConnect(txn: number, obj: Amf0Value): void {
    this.connectApp = stringField(obj, "app") ?? "";
    const tcUrl = stringField(obj, "tcUrl") ?? "";
    const q = tcUrl.indexOf("?");
    this.tcUrlQuery = q < 0 ? {} : Object.fromEntries(new URLSearchParams(tcUrl.slice(q + 1)));
    const hops = numberField(obj, "relayHops");
    this.relayHops = hops !== undefined && Number.isInteger(hops) && hops > 0 ? hops : 0;
    const objectEncoding = numberField(obj, "objectEncoding") ?? 0;
    // tcUrl may carry a token in its query: log it without.
    this.log.info("connect", { app: cleanApp(this.connectApp), tc_url: q < 0 ? tcUrl : tcUrl.slice(0, q), remote_addr: this.remoteAddress });
    const properties: Record<string, Amf0Value> = { fmsVer: "FMS/3,0,1,123", capabilities: 31, mode: 1 };
    if (isEnhancedClient(obj)) Object.assign(properties, ENHANCED_CAPABILITIES);
    this.sendCommand(
      0,
      "_result",
      txn,
      properties,
      statusInfo("status", "NetConnection.Connect.Success", "Connection succeeded.", {
        objectEncoding,
        data: { version: "3,0,1,123" },
      }),
    );
  }

  private onCreateStream(txn: number): void {
    if (this.nextStreamId > MAX_STREAMS) {
      return this.sendError(txn, "NetConnection.Call.Failed", `At most ${MAX_STREAMS} streams per connection.`);
    }
    const id = this.nextStreamId++;
    this.netStream(id);
    this.sendCommand(0, "_result", txn, null, id);
  }

  /** The NetStream a publish/play arrived on; clients that skip createStream get one on the fly. */
  private netStream(streamId: number): NetStream {
    let ns = this.netStreams.get(streamId);
    if (ns === undefined) {
      if (this.netStreams.size >= MAX_STREAMS) throw new ProtocolError("session.max-streams", `more than ${MAX_STREAMS} streams`);
      ns = { publication: null, playback: null, key: "" };
      this.netStreams.set(streamId, ns);
    }
    return ns;
  }

  private onPublish(streamId: number, rawName: Amf0Value): void {
    const name = typeof rawName === "string" ? parseStreamName(this.connectApp, rawName) : null;
    const ns = this.netStream(streamId);
    if (name === null || ns.publication !== null || ns.playback !== null) {
      this.sendStatus(streamId, "error", "NetStream.Publish.BadName", "Invalid stream name or stream already in use.");
      return this.close("publish refused: bad name");
    }
    this.authorize("publish", streamId, name, () => {
      const publication = this.hub.publish(this, name);
      if (publication === null) {
        this.sendStatus(streamId, "error", "NetStream.Publish.BadName", `Stream ${name.key} is already publishing.`);
        return this.close(`publish refused: ${name.key} already has a publisher`);
      }
      ns.publication = publication;
      ns.key = name.key;
      this.role = "publisher";
      this.streamKey = name.key;
      this.sendStatus(streamId, "status", "NetStream.Publish.Start", `Publishing ${name.key}.`);
    });
  }

  /**
   * Ask the access check, then `proceed` or refuse. A check that answers later (an HTTP callback) pauses
   * reading and holds this connection's later messages, in order, until it answers; other connections are
   * not affected.
   */
  private authorize(action: AuthAction, streamId: number, name: StreamName, proceed: () => void): void {
    const decision = this.life.authorize(this.context.access, {
      action,
      app: name.app,
      name: name.name,
      streamKey: name.key,
      query: { ...this.tcUrlQuery, ...name.query },
      clientIp: this.remote.ip,
    });
    if (!(decision instanceof Promise)) return this.decided(decision, action, streamId, proceed);
    this.socket.pause();
    void decision.then((d) => {
      if (this.life.phase !== Phase.Serving) return;
      this.decided(d, action, streamId, proceed);
      this.releaseHeld();
    });
  }

  /** Proceed, or tell the peer it was refused (the lifecycle counted, logged and announced it) and close. */
  private decided(decision: AuthDecision, action: AuthAction, streamId: number, proceed: () => void): void {
    if (decision.allowed) return proceed();
    if (decision.inUse === true) {
      this.sendStatus(streamId, "error", "NetStream.Publish.BadName", `Stream ${decision.reason}.`);
      return this.close(`publish refused: ${decision.reason}`);
    }
    const what = action === "publish" ? "Publish" : "Play";
    this.sendStatus(streamId, "error", `NetStream.${what}.Unauthorized`, `Authentication failed: ${decision.reason}.`);
    this.close(`${action} not authorized`);
  }

  /** Dispatch what arrived while a check was pending, until another check starts waiting. */
  private releaseHeld(): void {
    const serving = () => this.life.phase === Phase.Serving;
    try {
      while (this.life.awaitingAccess === 0 && this.held.length > 0 && serving()) this.onMessage(this.held.shift()!);
    } catch (e) {
      this.fail(e);
    }
    if (!serving()) this.held = [];
    else if (this.life.awaitingAccess === 0) this.socket.resume();
  }

  private onPlay(streamId: number, rawName: Amf0Value): void {
    const name = typeof rawName === "string" ? parseStreamName(this.connectApp, rawName) : null;
    const ns = this.netStream(streamId);
    if (name === null || ns.publication !== null || ns.playback !== null) {
      this.sendStatus(streamId, "error", "NetStream.Play.BadName", "Invalid stream name.");
      return this.close("play refused: bad name");
    }
    this.authorize("play", streamId, name, () => {
      this.send(streamBegin(streamId));
      this.sendStatus(streamId, "status", "NetStream.Play.Reset", `Playing and resetting ${name.key}.`);
      this.sendStatus(streamId, "status", "NetStream.Play.Start", `Started playing ${name.key}.`);
      this.send({
        csid: Csid.StreamCommand,
        type: MessageType.DataAmf0,
        streamId,
        timestamp: 0,
        payload: encodeData("|RtmpSampleAccess", true, true),
      });
      ns.key = name.key;
      if (this.role === "") this.role = "player";
      this.streamKey = name.key;
      ns.playback = this.hub.play(this, name, streamId, RtmpLayout.of(this.settings.chunkSize, streamId));
    });
  }

  private stopPublishing(rawName: string): void {
    const name = parseStreamName(this.connectApp, rawName);
    for (const ns of this.netStreams.values()) {
      if (ns.publication !== null && (name === null || ns.key === name.key)) this.endNetStream(ns);
    }
  }

  private closeNetStream(streamId: number): void {
    const ns = this.netStreams.get(streamId);
    if (ns !== undefined) this.endNetStream(ns);
  }

  private endNetStream(ns: NetStream): void {
    ns.publication?.end();
    ns.playback?.end();
    ns.publication = ns.playback = null;
  }
}
