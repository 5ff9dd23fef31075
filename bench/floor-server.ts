/**
 * The least an RTMP fan-out on Bun does, as a benchmark target (`bun run bench -- --floor`): what the
 * end-to-end clients need and nothing more. It handshakes, answers connect / createStream / publish / play,
 * reassembles the publishers' messages with the project's chunk reader, encodes each media message once
 * (self-contained chunks at 4096, the same bytes for every player), and writes it to the stream's players,
 * gathered per turn as the server's outbox does, keeping what the kernel did not take. A player starts at
 * the next keyframe after the sequence headers, as nginx-rtmp's wait_key does.
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
import { isAudioSequenceHeader, isVideoSequenceHeader, opensGop } from "../src/protocol/codec-info.ts";
import { Csid, MessageType, type RtmpMessage } from "../src/protocol/message.ts";

const CHUNK_SIZE = 4096;
/** The one message stream every client gets from createStream. */
const STREAM_ID = 1;
const scratch = new Uint8Array(256 * 1024);


interface Stream {
  players: Conn[];
  headers: Uint8Array[];
}

const streams = new Map<string, Stream>();
const dirty: Conn[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  for (const c of dirty) c.flush();
  dirty.length = 0;
}

class Conn {
  private handshake: ServerHandshake | null = new ServerHandshake();
  private readonly reader = new ChunkReader((m) => this.onMessage(m));
  private readonly writer = new ChunkWriter();
  private queue: Uint8Array[] = [];
  private blocked = false;
  private publishing: Stream | null = null;
  private waitKeyframe = true;

  constructor(private readonly socket: Socket<Conn>) {}

  onData(bytes: Uint8Array): void {
    if (this.handshake !== null) {
      const step = this.handshake.push(bytes);
      if (step.send !== null) this.send(step.send);
      if (!step.done) return;
      this.handshake = null;
      this.send(this.writer.encode(setChunkSize(CHUNK_SIZE)));
      this.writer.chunkSize = CHUNK_SIZE;
      if (step.rest === null) return;
      bytes = step.rest;
    }
    this.reader.push(bytes);
  }

  /** Queues bytes (not copied: callers hand over buffers they do not reuse) for the end of this turn. */
  send(bytes: Uint8Array): void {
    this.queue.push(bytes);
    if (this.queue.length === 1 && !this.blocked) {
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flushDirty);
      }
    }
  }

  /** A media message for a player: from its first keyframe on. */
  sendMedia(encoded: Uint8Array, keyframe: boolean): void {
    if (this.waitKeyframe && !keyframe) return;
    this.waitKeyframe = false;
    this.send(encoded);
  }

  flush(): void {
    this.blocked = false;
    while (this.queue.length > 0) {
      let out = this.queue[0];
      let items = 1;
      if (this.queue.length > 1) {
        let at = 0;
        items = 0;
        while (items < this.queue.length && at + this.queue[items].length <= scratch.length) {
          scratch.set(this.queue[items], at);
          at += this.queue[items++].length;
        }
        if (items === 0) items = 1;
        else out = scratch.subarray(0, at);
      }
      const n = this.socket.write(out);
      if (n < 0) return;
      if (n < out.length) {
        // The scratch is shared: keep a copy of what is left, in order, and wait for drain.
        this.queue.splice(0, items, out.slice(n));
        this.blocked = true;
        return;
      }
      this.queue.splice(0, items);
    }
  }

  close(): void {
    for (const stream of streams.values()) stream.players = stream.players.filter((p) => p !== this);
    if (this.publishing !== null) for (const key of streams.keys()) if (streams.get(key) === this.publishing) streams.delete(key);
  }

  private onMessage(m: RtmpMessage): void {
    if (m.type === MessageType.CommandAmf0) return this.onCommand(m);
    if (this.publishing === null) return;
    if (m.type !== MessageType.Audio && m.type !== MessageType.Video) return;
    const video = m.type === MessageType.Video;
    const csid = video ? Csid.Video : Csid.Audio;
    const stream = this.publishing;
    if (video ? isVideoSequenceHeader(m.payload) : isAudioSequenceHeader(m.payload)) {
      const encoded = encodeMessage({ ...m, csid, streamId: STREAM_ID }, CHUNK_SIZE);
      stream.headers = [...stream.headers.filter((h) => h[7] !== m.type), encoded];
      for (const p of stream.players) p.send(encoded);
      return;
    }
    const keyframe = video && opensGop(m.payload);
    const encoded = encodeMessage({ ...m, csid, streamId: STREAM_ID }, CHUNK_SIZE);
    for (const p of stream.players) p.sendMedia(encoded, keyframe);
  }

  private onCommand(m: RtmpMessage): void {
    const cmd = decodeCommand(m.payload);
    const reply = (streamId: number, ...values: Parameters<typeof encodeCommand>) => {
      const csid = streamId === 0 ? Csid.Command : Csid.StreamCommand;
      this.send(this.writer.encode({ csid, type: MessageType.CommandAmf0, streamId, timestamp: 0, payload: encodeCommand(...values) }));
    };
    const status = (code: string) => reply(STREAM_ID, "onStatus", 0, null, statusInfo("status", code, ""));
    const name = typeof cmd.args[0] === "string" ? cmd.args[0] : "";
    if (cmd.name === "connect") {
      reply(0, "_result", cmd.transactionId, null, statusInfo("status", "NetConnection.Connect.Success", ""));
    } else if (cmd.name === "createStream") {
      reply(0, "_result", cmd.transactionId, null, STREAM_ID);
    } else if (cmd.name === "publish") {
      this.publishing = stream(name);
      status("NetStream.Publish.Start");
    } else if (cmd.name === "play") {
      const s = stream(name);
      status("NetStream.Play.Start");
      for (const h of s.headers) this.send(h);
      s.players.push(this);
    }
  }
}

function stream(name: string): Stream {
  let s = streams.get(name);
  if (s === undefined) streams.set(name, (s = { players: [], headers: [] }));
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
      socket.data.flush();
    },
    close(socket) {
      socket.data.close();
    },
  },
});
