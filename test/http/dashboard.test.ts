/**
 * The dashboard in a real browser (headless Chromium): after its scripts ran, the page shows the published
 * stream's key, codec and resolution from the API; with an API token set it asks for the token instead. A
 * screenshot is written for a human to look at: $TMPDIR/rtmp-server-dashboard.png, overwritten each run.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Children } from "../../support/children.ts";
import { chromiumOnce } from "./chromium.ts";
import { httpLiveTest, httpUrl, requireTool, SyntheticPublisher } from "./harness.ts";

const children = new Children();
const publishers: SyntheticPublisher[] = [];
afterEach(async () => {
  await children.killAll();
  await Promise.all(publishers.splice(0).map((p) => p.close()));
});

describe.skipIf(!requireTool("chromium"))("the dashboard in headless Chromium", () => {
  const live = httpLiveTest("http-dashboard");

  it("shows the live stream's key, codec and resolution once its scripts ran, and renders a screenshot", async () => {
    const p = await SyntheticPublisher.start(live.server.port, "dash");
    publishers.push(p);
    p.realTime();
    await live.rawPlayer("dash");
    const dir = live.scratch.path;
    const dom = await chromiumOnce(children, dir, httpUrl(live, "/"), ["--dump-dom"]);
    expect(dom).toContain("live/dash");
    expect(dom).toContain("H264 640x360");
    expect(dom).toContain("AAC 44100 Hz 2 ch");
    expect(dom).toContain('<a href="/live/dash.flv"');
    expect(dom, "no watch page without HLS").not.toContain(">Watch</a>");
    expect(dom).toContain("<td>publisher</td><td>rtmp</td><td>live/dash</td>");
    expect(dom).toMatch(/<span id="status" class="">updated /);

    // One fixed file, overwritten by each run: there for a human to look at, never piling up.
    const png = join(tmpdir(), "rtmp-server-dashboard.png");
    rmSync(png, { force: true });
    await chromiumOnce(children, dir, httpUrl(live, "/"), [`--screenshot=${png}`, "--window-size=1280,900"]);
    const bytes = new Uint8Array(await Bun.file(png).arrayBuffer());
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(bytes.length).toBeGreaterThan(10_000);
    console.log(`dashboard screenshot: ${png}`);
  }, 120_000);
});

describe.skipIf(!requireTool("chromium"))("the dashboard with an API token", () => {
  const live = httpLiveTest("http-dashboard-token", { adjust: (c) => (c.http.apiToken = "dash-token") });

  it("is served without the token and asks for it", async () => {
    const dom = await chromiumOnce(children, live.scratch.path, httpUrl(live, "/"), ["--dump-dom"]);
    expect(dom).toContain("the API needs its token");
    expect(dom).toContain('<form id="token" class="shown">');
  }, 60_000);
});
