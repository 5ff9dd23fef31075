import { afterEach, describe, expect, it } from "bun:test";
import { MAX_RELAY_HOPS } from "../../src/relay/relay.ts";
import { type TestServer, startTestServer } from "../helpers/live-server.ts";
import { publish, requireFfmpeg } from "../helpers/media.ts";
import { Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { testSource } from "../../support/test-source.ts";
import { waitFor } from "../../support/wait.ts";

describe.skipIf(!requireFfmpeg())("a relay destination that leads back to this server", () => {
  const children = new Children();
  let server: TestServer | null = null;

  afterEach(async () => {
    await children.killAll();
    await server?.stop();
  });

  it(`makes a chain of ${MAX_RELAY_HOPS} copies, not a loop`, async () => {
    const port = freePort();
    const started = (server = await startTestServer((config) => {
      config.listen = { host: "127.0.0.1", port };
      config.relay.destinations = [{ url: `rtmp://127.0.0.1:${port}/{app}/{name}_copy`, streams: [] }];
    }));
    publish(children, await testSource({ seconds: 4 }), started.url("a"));
    const chain = ["a", "a_copy", "a_copy_copy", "a_copy_copy_copy"];
    expect(chain.length).toBe(MAX_RELAY_HOPS + 1);
    // The last link is a real stream: a player gets its video.
    await started.waitUntilLive(chain[MAX_RELAY_HOPS], 8_000);
    const refused = () => started.logs.records().find((r) => r.msg?.startsWith("not relayed") === true);
    await waitFor(() => refused() !== undefined, 3_000, "the hop limit to stop the chain", () => started.logs.tail());
    expect(refused()).toMatchObject({ stream_key: `live/${chain[MAX_RELAY_HOPS]}`, relay_hops: MAX_RELAY_HOPS });
    const publishing = [...started.server.registry.streams.values()].filter((s) => s.publisher !== null).map((s) => s.name);
    expect(publishing.sort()).toEqual(chain);
    expect(started.server.relay.totals().destinations.live).toBe(MAX_RELAY_HOPS);
  }, 20_000);
});
