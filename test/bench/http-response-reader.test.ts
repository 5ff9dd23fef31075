import { describe, expect, it } from "bun:test";
import { concat } from "../../support/bytes.ts";
import { hex, toHex } from "../helpers/hex.ts";
import { HttpResponseReader, MAX_HEAD_BYTES } from "../../bench/http-response-reader.ts";

/** The status and the body read from `pieces`. */
function read(pieces: Uint8Array[]): { status: number | null; body: string } {
  let status: number | null = null;
  const body: Uint8Array[] = [];
  const reader = new HttpResponseReader(
    (s) => (status = s),
    (bytes) => body.push(bytes.slice()),
  );
  for (const piece of pieces) reader.push(piece);
  return { status, body: toHex(concat(...body)) };
}

const HEAD = '"HTTP/1.1 200 OK" 0d0a "Content-Type: video/x-flv" 0d0a "Transfer-Encoding: chunked" 0d0a 0d0a';

describe("HttpResponseReader", () => {
  const chunked = hex(`${HEAD} "3" 0d0a 464c56 0d0a "a;ext=1" 0d0a 00010203040506070809 0d0a "0" 0d0a 0d0a`);

  it("hands on the body of a chunked response without the framing, however it is split", () => {
    const expected = { status: 200, body: "464c5600010203040506070809" };
    expect(read([chunked])).toEqual(expected);
    for (let cut = 0; cut <= chunked.length; cut++) {
      expect(read([chunked.subarray(0, cut), chunked.subarray(cut)])).toEqual(expected);
    }
    expect(read(Array.from(chunked, (b) => Uint8Array.of(b)))).toEqual(expected);
  });

  it("passes a body without chunked coding through as it comes", () => {
    expect(read([hex('"HTTP/1.1 200 OK" 0d0a 0d0a 464c56'), hex("01")])).toEqual({ status: 200, body: "464c5601" });
  });

  it("reports a refusal's status", () => {
    expect(read([hex('"HTTP/1.1 404 Not Found" 0d0a "Content-Length: 0" 0d0a 0d0a')]).status).toBe(404);
  });

  it("reads keep-alive responses one after another: Content-Length, chunked with a trailer, an empty body", () => {
    const responses = hex(
      '"HTTP/1.1 200 OK" 0d0a "Content-Length: 3" 0d0a 0d0a 414243' +
        ` ${HEAD} "2" 0d0a 4445 0d0a "0" 0d0a "X-Trailer: 1" 0d0a 0d0a` +
        ' "HTTP/1.1 404 Not Found" 0d0a "content-length:0" 0d0a 0d0a',
    );
    const read = (pieces: Uint8Array[]) => {
      const seen: string[] = [];
      let body: Uint8Array[] = [];
      const reader = new HttpResponseReader(
        (status) => seen.push(String(status)),
        (bytes) => body.push(bytes.slice()),
        () => {
          seen.push(toHex(concat(...body)));
          body = [];
        },
      );
      for (const piece of pieces) reader.push(piece);
      return seen;
    };
    const expected = ["200", "414243", "200", "4445", "404", ""];
    for (let cut = 0; cut <= responses.length; cut++) {
      expect(read([responses.subarray(0, cut), responses.subarray(cut)])).toEqual(expected);
    }
    expect(read(Array.from(responses, (b) => Uint8Array.of(b)))).toEqual(expected);
  });

  it("refuses what is not an HTTP/1.1 response, a bad chunk size, a missing CRLF and an endless head", () => {
    expect(() => read([hex('"RTMP/1.0 200 OK" 0d0a 0d0a')])).toThrow("not an HTTP/1.1 response");
    expect(() => read([hex(`${HEAD} "zz" 0d0a`)])).toThrow("a bad chunk size");
    expect(() => read([hex(`${HEAD} "123456789" 0d0a`)])).toThrow("a bad chunk size");
    expect(() => read([hex(`${HEAD} 0d0a`)])).toThrow("a chunk size line without a size");
    expect(() => read([hex(`${HEAD} "1" 0d0a 41 "XY"`)])).toThrow("a chunk not followed by CRLF");
    expect(() => read([new Uint8Array(MAX_HEAD_BYTES + 1).fill(0x41)])).toThrow(`a response head over ${MAX_HEAD_BYTES} bytes`);
  });
});
