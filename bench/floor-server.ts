/**
 * The least an RTMP fan-out on Bun does, as a benchmark target (`bun run bench -- --floor`): what the
 * end-to-end clients need and nothing more. It handshakes, answers connect / createStream / publish / play,
 * reassembles the publishers' messages with the project's chunk reader, encodes each media message once
 * (self-contained chunks at 4096, the same bytes for every player), and queues it on each of the stream's
 * players in the server's own Outbox (one write per connection per turn, the unsent tail kept for drain). A
 * player starts at the next keyframe after the sequence headers, as nginx-rtmp's wait_key does.
 *
 * No GOP cache, statistics, lag policy, limits, timeouts, events, logging or authentication (a connection
 * that sends what it cannot read is just dropped): it is not a server, only a measure of what sockets plus
 * the RTMP codecs cost in Bun, so that rtmp-server's overhead above it and nginx-rtmp's cost can be told
 * apart in one table.
 *
 *   bun bench/floor-server.ts PORT
 */
import type { Socket } from "bun";
import { ChunkReader } from "../src/protocol/chunk-reader.ts";
import { ChunkWriter, encodeMessage } from "../src/protocol/chunk-writer.ts";
import { decodeCommand, encodeCommand, statusInfo } from "../src/protocol/command.ts";
import { setChunkSize } from "../src/protocol/control.ts";
import { ServerHandshake } from "../src/protocol/handshake.ts";
import { isAudioSequenceHeader, isVideoSequenceHeader, opensGop } from "../src/media/codec-info.ts";
import { Csid, MessageType, type RtmpMessage } from "../src/protocol/message.ts";
import { Outbox } from "../src/shared/outbox.ts";

const CHUNK_SIZE = 4096;
/** The one message stream every client gets from createStream. */
const STREAM_ID = 1;

interface Stream {
  players: Conn[];
  /** The latest sequence header of each message type, encoded. */
  headers: Map<number, Uint8Array>;
}

const streams = new Map<string, Stream>();

class Conn {
  private handshake: ServerHandshake | null = new ServerHandshake();
  private readonly reader = new ChunkReader((m) => this.onMessage(m));
  private readonly writer = new ChunkWriter();
  readonly outbox: Outbox;
  /** The stream this connection publishes, by name. */
  private publishing: string | null = null;
  private waitKeyframe = true;

  constructor(socket: Socket<Conn>) {
    this.outbox = new Outbox(socket);
  }

  onData(bytes: Uint8Array): void {
    if (this.handshake !== null) {
      const step = this.handshake.push(bytes);
      if (step.send !== null) this.outbox.push(step.send);
      if (!step.done) return;
      this.handshake = null;
      this.outbox.push(this.writer.encode(setChunkSize(CHUNK_SIZE)));
      this.writer.chunkSize = CHUNK_SIZE;
      if (step.rest === null) return;
      bytes = step.rest;
    }
    this.reader.push(bytes);
  }

  /** A media message for a player: from its first keyframe on. */
  sendMedia(encoded: Uint8Array, keyframe: boolean): void {
    if (this.waitKeyframe && !keyframe) return;
    this.waitKeyframe = false;
    this.outbox.push(encoded);
  }

  close(): void {
    this.outbox.close();
    for (const stream of streams.values()) stream.players = stream.players.filter((p) => p !== this);
    if (this.publishing !== null) streams.delete(this.publishing);
  }

  private onMessage(m: RtmpMessage): void {
    if (m.type === MessageType.CommandAmf0) return this.onCommand(m);
    if (this.publishing === null) return;
    if (m.type !== MessageType.Audio && m.type !== MessageType.Video) return;
    const video = m.type === MessageType.Video;
    const stream = streamNamed(this.publishing);
    const encoded = encodeMessage({ ...m, csid: video ? Csid.Video : Csid.Audio, streamId: STREAM_ID }, CHUNK_SIZE);
    if (video ? isVideoSequenceHeader(m.payload) : isAudioSequenceHeader(m.payload)) {
      stream.headers.set(m.type, encoded);
      for (const p of stream.players) p.outbox.push(encoded);
      return;
    }
    const keyframe = video && opensGop(m.payload);
    for (const p of stream.players) p.sendMedia(encoded, keyframe);
  }

  private onCommand(m: RtmpMessage): void {
    const cmd = decodeCommand(m.payload);
    const reply = (streamId: number, ...values: Parameters<typeof encodeCommand>) => {
      const csid = streamId === 0 ? Csid.Command : Csid.StreamCommand;
      this.outbox.push(this.writer.encode({ csid, type: MessageType.CommandAmf0, streamId, timestamp: 0, payload: encodeCommand(...values) }));
    };
    const status = (code: string) => reply(STREAM_ID, "onStatus", 0, null, statusInfo("status", code, ""));
    const name = typeof cmd.args[0] === "string" ? cmd.args[0] : "";
    if (cmd.name === "connect") {
      reply(0, "_result", cmd.transactionId, null, statusInfo("status", "NetConnection.Connect.Success", ""));
    } else if (cmd.name === "createStream") {
      reply(0, "_result", cmd.transactionId, null, STREAM_ID);
    } else if (cmd.name === "publish") {
      this.publishing = name;
      status("NetStream.Publish.Start");
    } else if (cmd.name === "play") {
      const s = streamNamed(name);
      status("NetStream.Play.Start");
      for (const h of s.headers.values()) this.outbox.push(h);
      s.players.push(this);
    }
  }
}

function streamNamed(name: string): Stream {
  let s = streams.get(name);
  if (s === undefined) streams.set(name, (s = { players: [], headers: new Map() }));
  return s;
}

// As rtmp-server does (its Collector): Bun's read buffers die young, and collecting them while their memory is
// warm saves the page faults of fresh memory, which profiled as the costliest part of this load.
setInterval(() => Bun.gc(false), 30);

const port = Number(process.argv[2]);
Bun.listen<Conn>({
  hostname: "127.0.0.1",
  port,
  socket: {
    open(socket) {
      socket.data = new Conn(socket);
    },
    data(socket, bytes) {
      try {
        socket.data.onData(bytes);
      } catch {
        socket.terminate();
      }
    },
    drain(socket) {
      socket.data.outbox.drain(performance.now());
    },
    close(socket) {
      socket.data.close();
    },
  },
});
