/**
 * RtmpClient (src/relay/) with what only tests and benchmarks want of an outbound RTMP connection: play,
 * every message received (onMessage), raw bytes after connect (hostile chunks), and reading paused and
 * resumed (a player that stops reading).
 */
import { encodeCommand } from "../../src/protocol/command.ts";
import type { RtmpMessage } from "../../src/protocol/message.ts";
import { RtmpClient, type RtmpClientOptions, type RtmpUrl, parseRtmpUrl } from "../../src/relay/rtmp-client.ts";

export interface TestRtmpClientOptions extends RtmpClientOptions {
  /** Every message received after the handshake, media included. The payload may be a view: copy to keep. */
  onMessage?: (message: RtmpMessage) => void;
}

export class TestRtmpClient extends RtmpClient {
  private readonly onMessage: ((message: RtmpMessage) => void) | undefined;

  protected constructor(url: RtmpUrl, opts: TestRtmpClientOptions) {
    super(url, opts);
    this.onMessage = opts.onMessage;
  }

  static override async connect(url: string | RtmpUrl, opts: TestRtmpClientOptions = {}): Promise<TestRtmpClient> {
    return new TestRtmpClient(typeof url === "string" ? parseRtmpUrl(url) : url, opts).open();
  }

  /** Resolves on NetStream.Play.Start; rejects with an RtmpStatusError on an error status or _error. */
  async play(streamId: number, name: string): Promise<void> {
    // Start -2: live if there is a live stream of that name, else recorded.
    await this.request("play", streamId, "NetStream.Play.Start", (txn) => encodeCommand("play", txn, null, name, -2));
  }

  /**
   * Queue bytes as they are, bypassing the chunk writer (malformed chunks). The writer's header compression
   * does not know about them, so later messages may no longer parse on the other side.
   */
  sendRaw(bytes: Uint8Array): void {
    this.enqueue(bytes);
  }

  /** Stop reading from the socket (the server then sees a stalled peer); resume() starts again. */
  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  protected override receive(message: RtmpMessage): void {
    super.receive(message);
    this.onMessage?.(message);
  }
}
