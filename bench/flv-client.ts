/**
 * A benchmark player over HTTP-FLV or WS-FLV: plays an .flv URL from the server's http.listen and hands on
 * each tag as it completes. It counts the bytes it receives as an RTMP player counts its own: everything off
 * the socket for HTTP-FLV (head and chunk framing included), the messages' payloads for WS-FLV.
 */
import type { Socket } from "bun";
import { type FlvTag, FlvTagReader } from "./flv-tag-reader.ts";
import { HttpResponseReader } from "./http-response-reader.ts";

export type FlvProtocol = "http-flv" | "ws-flv";

export interface FlvClientOptions {
  /** For the response head (HTTP-FLV) or the upgrade (WS-FLV). */
  timeoutMs: number;
  onTag(tag: FlvTag): void;
  /** Called once, when the connection ends after it started: with the reason, unless close() ended it. */
  onClose(err?: Error): void;
}

export class FlvClient {
  bytesReceived = 0;
  private readonly tags: FlvTagReader;
  private started = false;
  private ended = false;
  private settle!: { resolve(): void; reject(err: Error): void };
  private stopTransport: () => void = () => {};
  private readonly gone = Promise.withResolvers<void>();

  private constructor(private readonly options: FlvClientOptions) {
    this.tags = new FlvTagReader(options.onTag);
  }

  /** Resolves once the server answered 200 (HTTP-FLV) or accepted the upgrade (WS-FLV). */
  static async connect(url: string, protocol: FlvProtocol, options: FlvClientOptions): Promise<FlvClient> {
    const client = new FlvClient(options);
    const ready = new Promise<void>((resolve, reject) => (client.settle = { resolve, reject }));
    // A failure to connect at all rejects `ready` too, with nobody waiting on it yet.
    ready.catch(() => {});
    const timer = setTimeout(() => client.end(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    try {
      await (protocol === "http-flv" ? client.openHttp(new URL(url)) : client.openWebSocket(url));
      await ready;
      client.started = true;
      return client;
    } catch (err) {
      client.end(err as Error);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.stopTransport();
      this.options.onClose();
    }
    return this.gone.promise;
  }

  private async openHttp(url: URL): Promise<void> {
    const response = new HttpResponseReader(
      (status) => (status === 200 ? this.settle.resolve() : this.end(new Error(`HTTP ${status}`))),
      (body) => this.tags.push(body),
    );
    const socket: Socket<undefined> = await Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        binaryType: "uint8array",
        data: (_s, bytes: Uint8Array) => this.receive(bytes, response),
        close: () => this.end(new Error("the server closed the connection")),
        error: (_s, err) => this.end(err),
      },
    });
    this.stopTransport = () => socket.terminate();
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`);
  }

  private openWebSocket(url: string): void {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.settle.resolve();
    ws.onmessage = (e) => this.receive(new Uint8Array(e.data as ArrayBuffer), this.tags);
    ws.onclose = (e) => this.end(new Error(`the server closed the WebSocket (${e.code})`));
    ws.onerror = () => this.end(new Error("WebSocket error"));
    this.stopTransport = () => ws.close();
  }

  private receive(bytes: Uint8Array, reader: { push(bytes: Uint8Array): void }): void {
    if (this.ended) return;
    this.bytesReceived += bytes.length;
    try {
      reader.push(bytes);
    } catch (err) {
      this.end(err as Error);
    }
  }

  /** The connection ended on its own, or must end because of `err`. */
  private end(err: Error): void {
    if (this.ended) return this.gone.resolve();
    this.ended = true;
    this.stopTransport();
    if (this.started) this.options.onClose(err);
    else this.settle.reject(err);
    this.gone.resolve();
  }
}
