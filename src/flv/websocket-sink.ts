/**
 * A WS-FLV player's bytes as binary WebSocket messages (one per coalesced write: FLV readers take the
 * messages as one byte stream). Bun copies each message; send() answering -1 means it was queued under
 * backpressure, so this sink takes nothing more until Bun's drain: Bun holds at most one write per player.
 */
import type { ServerWebSocket } from "bun";
import type { FlvSink, SinkOwner } from "./flv-player.ts";

export class WebSocketSink implements FlvSink {
  private socket: ServerWebSocket<unknown> | null = null;
  private blocked = false;
  private done = false;
  private owner: SinkOwner | null = null;

  bind(owner: SinkOwner): void {
    this.owner = owner;
  }

  /** The upgrade completed: writes go to this socket from now on. */
  attach(socket: ServerWebSocket<unknown>): void {
    this.socket = socket;
    if (this.done) socket.close(1000);
    else this.owner?.onDrain(performance.now());
  }

  write(data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset): number {
    if (this.done) return -1;
    if (this.socket === null || this.blocked) return 0;
    const status = this.socket.send(data.subarray(byteOffset, byteOffset + byteLength));
    // 0: dropped, the socket is closed (we never let Bun's backpressure limit be reached).
    if (status === 0) return -1;
    if (status === -1) this.blocked = true;
    return byteLength;
  }

  /** Bun's drain: what it queued has been sent. */
  drained(): void {
    this.blocked = false;
    if (!this.done) this.owner?.onDrain(performance.now());
  }

  /** Bun's close: the one place the owner learns the connection is gone. */
  closed(): void {
    this.done = true;
    const owner = this.owner;
    this.owner = null;
    owner?.gone();
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.socket?.close(1000);
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.socket?.terminate();
  }
}
