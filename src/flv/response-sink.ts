/**
 * An HTTP-FLV player's bytes as a chunked HTTP response, written through Bun's "direct" ReadableStream.
 * Bun's controller copies what it is given and either sends it or, when the socket is full, keeps that one
 * chunk and returns a promise that settles on drain: from then on this sink takes nothing (a short write,
 * so the player's outbox holds its queue under its own lag policy) until the promise settles. So Bun never
 * holds more than one coalesced write per player, and a reader that stops reading stops the writes.
 */
import type { Server } from "bun";
import type { FlvSink, SinkOwner } from "./flv-player.ts";

/**
 * Seconds of silence after which Bun cuts a connection whose response we ended or gave up on. Bun checks
 * its timers about every 4 s, so an aborted player's socket closes 1-5 s later.
 */
const ENDED_IDLE_S = 10;
const ABORTED_IDLE_S = 1;

export class ResponseSink implements FlvSink {
  private controller: ReadableStreamDirectController | null = null;
  /** Settles the pending pull(): the stream ends. */
  private finish: (() => void) | null = null;
  /** Bun holds a chunk it could not send yet. */
  private waiting = false;
  private done = false;
  private owner: SinkOwner | null = null;

  constructor(
    private readonly request: Request,
    private readonly server: Server<unknown>,
  ) {
    request.signal.addEventListener("abort", () => this.peerGone(), { once: true });
  }

  bind(owner: SinkOwner): void {
    this.owner = owner;
  }

  /** The response whose body this sink writes; bytes written before Bun starts it wait in the outbox. */
  response(headers: Record<string, string>): Response {
    const body = new ReadableStream({
      type: "direct",
      pull: (controller: ReadableStreamDirectController) => {
        // Ended before Bun started the body: an empty body, not one left open.
        if (this.done) return controller.close();
        this.controller = controller;
        this.owner?.onDrain(performance.now());
        return new Promise<void>((resolve) => (this.finish = resolve));
      },
      cancel: () => this.peerGone(),
    });
    return new Response(body, { headers });
  }

  write(data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset): number {
    if (this.done) return -1;
    if (this.controller === null || this.waiting) return 0;
    let result: number | Promise<number>;
    try {
      result = this.controller.write(data.subarray(byteOffset, byteOffset + byteLength));
    } catch {
      // Written after Bun closed the response on its side.
      this.peerGone();
      return -1;
    }
    if (typeof result === "number") {
      if (result > 0) return byteLength;
      this.peerGone();
      return -1;
    }
    this.waiting = true;
    result.then(
      () => {
        this.waiting = false;
        if (!this.done) this.owner?.onDrain(performance.now());
      },
      () => this.peerGone(),
    );
    return byteLength;
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.controller?.end();
    } catch {
      // Already closed by Bun: nothing left to end.
    }
    this.finish?.();
    this.limitIdle(ENDED_IDLE_S);
  }

  /**
   * Bun's controller.close(error) would reset the socket at once, but prints the error on stderr each time;
   * a short idle timer ends the connection as surely, only a few seconds later.
   */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.limitIdle(ABORTED_IDLE_S);
  }

  private limitIdle(seconds: number): void {
    try {
      this.server.timeout(this.request, seconds);
    } catch {
      // The request is already finished and its connection gone.
    }
  }

  private peerGone(): void {
    this.done = true;
    const owner = this.owner;
    this.owner = null;
    owner?.gone();
  }
}
