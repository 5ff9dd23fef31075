/**
 * HTTP/1.1 responses as they arrive on a bare socket, for the benchmark's HTTP-FLV and HLS players: the head
 * (status and headers, bounded), then the body as views of the received bytes, with chunked transfer coding
 * removed, then (for a body of known length, or chunked) the end of the response and the next one's head, as
 * on a keep-alive connection. A byte-level state machine: pieces may split anywhere, nothing is copied but the
 * head.
 */

/** Like the server's own limit on request headers. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Hex digits of a chunk size: 8 is 4 GiB, more than any chunk the server writes. */
const MAX_SIZE_DIGITS = 8;

const enum State {
  Head,
  Size,
  SizeLineEnd,
  Data,
  DataEnd,
  /** The last chunk's trailer section, up to its empty line. */
  Trailer,
  /** A body of Content-Length bytes. */
  Length,
  /** A body that lasts until the connection closes. */
  Identity,
}

const CR = 13;
const LF = 10;

export class HttpResponseReader {
  private state = State.Head;
  private readonly head: number[] = [];
  /**
   * Size: the size so far. Data, Length: bytes left of the body or chunk. DataEnd: bytes left of its CRLF.
   * Trailer: bytes of the current line. Size digits seen.
   */
  private count = 0;
  private digits = 0;

  /** onHead gets the status code once the head is complete; onBody each piece of the body; onEnd the end of a response. */
  constructor(
    private readonly onHead: (status: number) => void,
    private readonly onBody: (bytes: Uint8Array) => void,
    private readonly onEnd: () => void = () => {},
  ) {}

  /** Throws on what is not an HTTP/1.1 response. */
  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.state === State.Data || this.state === State.Length || this.state === State.Identity) {
        const n = this.state === State.Identity ? bytes.length - at : Math.min(this.count, bytes.length - at);
        this.onBody(bytes.subarray(at, at + n));
        at += n;
        if (this.state === State.Identity || (this.count -= n) > 0) continue;
        if (this.state === State.Data) [this.state, this.count] = [State.DataEnd, 2];
        else this.end();
      } else {
        this.byte(bytes[at++]);
      }
    }
  }

  private byte(b: number): void {
    switch (this.state) {
      case State.Head:
        return this.headByte(b);
      case State.Size:
        return this.sizeByte(b);
      case State.SizeLineEnd:
        // Chunk extensions (after ';') are skipped to the end of the line.
        if (b === LF) this.endSizeLine();
        return;
      case State.DataEnd:
        if (b !== (this.count === 2 ? CR : LF)) throw new Error("a chunk not followed by CRLF");
        if (--this.count === 0) [this.state, this.count, this.digits] = [State.Size, 0, 0];
        return;
      case State.Trailer:
        // Its fields say nothing a player needs; an empty line ends it, and the response.
        if (b !== LF) this.count += b === CR ? 0 : 1;
        else if (this.count === 0) this.end();
        else this.count = 0;
        return;
    }
  }

  private headByte(b: number): void {
    if (this.head.length === MAX_HEAD_BYTES) throw new Error(`a response head over ${MAX_HEAD_BYTES} bytes`);
    this.head.push(b);
    const n = this.head.length;
    if (n < 4 || this.head[n - 4] !== CR || this.head[n - 3] !== LF || this.head[n - 2] !== CR || b !== LF) return;
    const text = String.fromCharCode(...this.head);
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
    if (status === null) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(text.slice(0, 40))}`);
    const chunked = /\r\ntransfer-encoding:[ \t]*chunked\r\n/i.test(text);
    const length = /\r\ncontent-length:[ \t]*(\d{1,15})[ \t]*\r\n/i.exec(text);
    this.head.length = 0;
    this.onHead(Number(status[1]));
    if (chunked) [this.state, this.count, this.digits] = [State.Size, 0, 0];
    else if (length === null) this.state = State.Identity;
    else if (Number(length[1]) > 0) [this.state, this.count] = [State.Length, Number(length[1])];
    else this.end();
  }

  private sizeByte(b: number): void {
    if (b === CR || b === 0x3b /* ; */) {
      this.state = State.SizeLineEnd;
      return;
    }
    if (b === LF) return this.endSizeLine();
    const digit = Number.parseInt(String.fromCharCode(b), 16);
    if (Number.isNaN(digit) || ++this.digits > MAX_SIZE_DIGITS) throw new Error("a bad chunk size");
    this.count = this.count * 16 + digit;
  }

  private endSizeLine(): void {
    if (this.digits === 0) throw new Error("a chunk size line without a size");
    this.state = this.count === 0 ? State.Trailer : State.Data;
  }

  /** The response is complete: what follows is the next one's head. */
  private end(): void {
    [this.state, this.count] = [State.Head, 0];
    this.onEnd();
  }
}
