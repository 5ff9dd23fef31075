import { afterAll, afterEach, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";
import { decodeErrors, play, probe, publish, requireFfmpeg, scratchDir } from "../helpers/media.ts";
import { Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";
import { type TestCertificate, selfSignedCertificate } from "../helpers/tls-certificate.ts";

const ROOT = resolve(import.meta.dir, "../..");

describe.skipIf(!requireFfmpeg())("relay over RTMPS", () => {
  const children = new Children();
  const scratch = scratchDir("relay-rtmps");
  let certificate: TestCertificate;
  /** The destination: this server with its RTMPS listener on, serving the self-signed certificate. */
  let destination: TestServer;
  let source = "";

  beforeAll(async () => {
    certificate = await selfSignedCertificate(scratch.path);
    // Long enough that the relay, which starts at the first keyframe after it connected, still gets several GOPs.
    source = await testSource({ seconds: 4 });
    destination = await startTestServer((config) => {
      config.tls = { listen: { host: "127.0.0.1", port: 0 }, ...certificate };
    });
  });

  afterEach(() => children.killAll());

  afterAll(async () => {
    await destination.stop();
    scratch.remove();
  });

  it("pushes a stream to an rtmps:// destination whose certificate the operator trusts", async () => {
    const port = freePort();
    const config = join(scratch.path, "relaying.yaml");
    writeFileSync(
      config,
      [
        `listen: "127.0.0.1:${port}"`,
        "relay:",
        `  destinations: ["rtmps://127.0.0.1:${destination.server.tlsPort}/live/{name}_tls"]`,
        "",
      ].join("\n"),
    );
    // The operator's way to trust a private CA: the process-wide extra CA file, as Node has it.
    const relaying = children.spawn("relaying server", [process.execPath, "src/cli.ts", "--config", config], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certificate.cert },
    });
    await waitFor(() => relaying.stdout.includes('"msg":"listening"'), 10_000, "the relaying server", () => relaying.describe());
    const out = join(scratch.path, "through-tls.flv");
    const player = play(children, destination.url("cam_tls"), out);
    await destination.waitForPlayers("cam_tls", 1);
    const publisher = publish(children, source, `rtmp://127.0.0.1:${port}/live/cam`);
    await waitFor(() => destination.server.registry.streams.get("live/cam_tls")?.publisher !== null, 8_000, "the relayed stream", () => relaying.describe());
    expect(destination.server.registry.streams.get("live/cam_tls")?.publisher?.protocol).toBe("rtmps");
    expect(await publisher.waitExit(15_000), publisher.describe()).toBe(0);
    // The relay unpublishes when its publisher leaves; our server then ends the FFmpeg player.
    expect(await player.waitExit(10_000), player.describe()).toBe(0);
    const probed = await probe(out);
    expect([probed.video?.codecName, probed.audio?.codecName]).toEqual(["h264", "aac"]);
    expect(probed.video?.packets).toBeGreaterThan(25);
    expect(await decodeErrors(out)).toBe("");
    expect(relaying.stdout).toContain('"msg":"relay live"');
  }, 30_000);

  it("refuses a destination whose certificate is not trusted, and says why", async () => {
    const relaying = await startTestServer((config) => {
      config.relay.destinations = [{ url: `rtmps://127.0.0.1:${destination.server.tlsPort}/live/{name}_untrusted`, streams: [] }];
    });
    try {
      publish(children, source, relaying.url("cam"));
      const failure = () => relaying.logs.records().find((r) => r.msg === "relay failed");
      await waitFor(() => failure() !== undefined, 8_000, "the refused TLS handshake", () => relaying.logs.tail());
      expect(String(failure()?.error)).toContain("TLS: the server's certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)");
      expect(destination.server.registry.streams.has("live/cam_untrusted")).toBe(false);
    } finally {
      await relaying.stop();
    }
  }, 20_000);
});
