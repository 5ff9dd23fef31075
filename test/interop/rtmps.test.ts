/**
 * RTMPS: the same sessions over TLS on tls.listen, with a self-signed certificate made by openssl for the
 * test. FFmpeg publishes and plays over rtmps://; a plain-RTMP or garbage client on the TLS port costs only
 * its own connection; a renewed certificate is served after a reload (what SIGHUP calls) without dropping
 * the connections already open.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { copyFileSync } from "node:fs";
import { startTestServer, type TestServer } from "../helpers/live-server.ts";
import {
  decodeErrors,
  fileSize,
  play,
  probeTestSourceCopy,
  publish,
  requireFfmpeg,
  scratchDir,
} from "../helpers/media.ts";
import { Children } from "../../support/children.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { RawRtmpClient } from "../helpers/raw-rtmp-client.ts";
import { selfSignedCertificate } from "../helpers/tls-certificate.ts";

/** The common name of the certificate the TLS port serves to a new connection. */
async function servedCommonName(port: number): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    tls: { rejectUnauthorized: false },
    socket: {
      handshake(socket) {
        resolve(String(socket.getPeerCertificate()?.subject?.CN));
        socket.end();
      },
      data() {},
      error: (_socket, error) => reject(error),
      connectError: (_socket, error) => reject(error),
    },
  });
  return promise;
}

describe.skipIf(!requireFfmpeg())("RTMPS (tls.listen)", () => {
  const scratch = scratchDir("rtmps");
  const children = new Children();
  const files = { cert: `${scratch.path}/served.cert.pem`, key: `${scratch.path}/served.key.pem` };
  let server: TestServer;

  beforeAll(async () => {
    const first = await selfSignedCertificate(scratch.path, "first");
    copyFileSync(first.cert, files.cert);
    copyFileSync(first.key, files.key);
    server = await startTestServer((c) => {
      c.tls = { listen: { host: "127.0.0.1", port: 0 }, ...files };
    });
  });
  afterAll(async () => {
    await children.killAll();
    await server.stop();
    scratch.remove();
  });

  it("takes a publish and a play from FFmpeg over rtmps://, and plain clients cost only their connection", async () => {
    const port = server.server.tlsPort!;
    const url = `rtmps://127.0.0.1:${port}/live/secure`;
    const seconds = 5;
    const publisher = publish(children, await testSource(), url, { seconds });
    await waitFor(() => server.server.registry.streams.get("live/secure")?.publisher != null, 10_000, "the RTMPS publisher");
    const out = `${scratch.path}/secure.flv`;
    const player = play(children, url, out);
    await waitFor(() => fileSize(out) > 0, 10_000, "the RTMPS player's first output", () => player.describe());

    // Plain RTMP and garbage on the TLS port, while the stream runs.
    const plain = await RawRtmpClient.connect(port).catch((e: Error) => e);
    expect(plain, "an RTMP handshake on the TLS port must fail").toBeInstanceOf(Error);
    const garbage = await RawRtmpClient.tcp(port);
    garbage.write(crypto.getRandomValues(new Uint8Array(2000)));
    expect(await garbage.closedWithin(5_000), "the garbage client's connection was closed").toBe(true);

    expect(await publisher.waitExit(seconds * 1000 + 10_000), publisher.describe()).toBe(0);
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    await probeTestSourceCopy(out);
    expect(await decodeErrors(out)).toBe("");
    expect(server.logs.records().filter((r) => r.level === "error"), server.logs.tail()).toEqual([]);
  }, 45_000);

  it("serves a renewed certificate after a reload, and keeps the connections already open", async () => {
    const port = server.server.tlsPort!;
    expect(await servedCommonName(port)).toBe("first");
    const open = await RawRtmpClient.tcp(port);
    const renewed = await selfSignedCertificate(scratch.path, "renewed");
    copyFileSync(renewed.cert, files.cert);
    copyFileSync(renewed.key, files.key);
    server.server.reload();
    expect(await servedCommonName(port)).toBe("renewed");
    expect(open.isClosed, "a connection made before the reload is still open").toBe(false);
    open.close();

    // A renewal half-written (a key that is not the certificate's) keeps the working pair.
    copyFileSync((await selfSignedCertificate(scratch.path, "other")).cert, files.cert);
    server.server.reload();
    expect(await servedCommonName(port)).toBe("renewed");
    expect(server.logs.records().some((r) => r.msg === "TLS certificate reload failed: keeping the current one")).toBe(true);
  }, 30_000);
});
