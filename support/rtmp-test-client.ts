/**
 * RtmpClient (src/relay/) with what only tests and benchmarks want of an outbound RTMP connection: raw bytes
 * after connect (hostile chunks), and reading paused and resumed (a player that stops reading).
 */
import { RtmpClient, type RtmpClientOptions, type RtmpUrl, parseRtmpUrl } from "../src/relay/rtmp-client.ts";

export class TestRtmpClient extends RtmpClient {
  static override async connect(url: string | RtmpUrl, opts: RtmpClientOptions = {}): Promise<TestRtmpClient> {
    return new TestRtmpClient(typeof url === "string" ? parseRtmpUrl(url) : url, opts).open();
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
}
