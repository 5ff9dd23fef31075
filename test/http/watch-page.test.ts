/**
 * The watch page (GET /{app}/{name}/ with hls.enabled): what the server sends (the stream's name escaped, one
 * script for every stream, hls.js with its license notice and a year's cache, nothing without HLS), and the page
 * in headless Chromium: offline first, then playing a real FFmpeg publish at 1280x720 through hls.js, its
 * currentTime advancing. A screenshot is written for a human: $TMPDIR/rtmp-server-watch.png, overwritten each run.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { requireFfmpeg } from "../helpers/media.ts";
import { Children } from "../../support/children.ts";
import { waitFor } from "../../support/wait.ts";
import { chromiumOnce, DevToolsPage } from "./chromium.ts";
import { httpLiveTest, httpUrl, requireTool, SyntheticPublisher } from "./harness.ts";

const HLS_JS_DIR = resolve(import.meta.dir, "../../node_modules/hls.js");
const HLS_JS_VERSION = (JSON.parse(readFileSync(join(HLS_JS_DIR, "package.json"), "utf8")) as { version: string }).version;
const HLS_JS_PATH = `/assets/hls.js-${HLS_JS_VERSION}/hls.light.min.js`;

const children = new Children();
const publishers: SyntheticPublisher[] = [];
const pages: DevToolsPage[] = [];
afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close()));
  await children.killAll();
  await Promise.all(publishers.splice(0).map((p) => p.close()));
});

/** The text of the page's one inline `<script>`. */
function inlineScript(html: string): string {
  const match = /<script>([\s\S]*?)<\/script>/.exec(html);
  if (match === null) throw new Error("no inline <script>");
  return match[1];
}

describe("the watch page over HTTP", () => {
  const live = httpLiveTest("watch-page", { once: true, adjust: (c) => ((c.hls.enabled = true), (c.hls.streams = ["live/*"])) });

  it("shows a hostile stream name escaped, and sends every stream the same script, the one its policy allows", async () => {
    const hostile = `<script>alert("x")</script>'&$&`;
    const page = await fetch(httpUrl(live, `/live/${encodeURIComponent(hostile)}/?token=abc`));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await page.text();
    expect(html).toContain("<h1>live/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;$&amp;</h1>");
    expect(html).toContain("<title>live/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;$&amp; · live</title>");
    expect(html).not.toContain("alert(\"x\")");
    expect(html, "the query stays in the browser's location, never in the page").not.toContain("abc");

    const plain = await fetch(httpUrl(live, "/live/plain/"));
    const plainHtml = await plain.text();
    expect(inlineScript(html)).toBe(inlineScript(plainHtml));
    const policy = page.headers.get("content-security-policy") ?? "";
    expect(plain.headers.get("content-security-policy")).toBe(policy);
    const hash = new Bun.CryptoHasher("sha256").update(inlineScript(html)).digest("base64");
    expect(policy).toContain(`script-src 'sha256-${hash}' 'self';`);
    expect(policy).toContain("default-src 'none'");
    expect(html).toContain(`data-hls-js="${HLS_JS_PATH}" data-low-latency="true"`);
  });

  it("serves hls.js with its license notice, as JavaScript cached for a year, gzipped for a client that takes it", async () => {
    const plain = await fetch(httpUrl(live, HLS_JS_PATH), { headers: { "accept-encoding": "identity" } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(plain.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(plain.headers.get("content-encoding")).toBeNull();
    const text = await plain.text();
    expect(text.startsWith(`/*! hls.js ${HLS_JS_VERSION} (light build)`)).toBe(true);
    expect(text).toContain("Copyright (c) 2017 Dailymotion");
    expect(text).toContain("Licensed under the Apache License, Version 2.0");
    const original = readFileSync(join(HLS_JS_DIR, "dist/hls.light.min.js"), "utf8");
    const code = original.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, "\n");
    expect(text.endsWith(code)).toBe(true);
    expect(text).not.toContain("sourceMappingURL");

    const gzipped = await fetch(httpUrl(live, HLS_JS_PATH), { headers: { "accept-encoding": "gzip" } });
    expect(gzipped.headers.get("content-encoding")).toBe("gzip");
    expect(gzipped.headers.get("vary")).toBe("accept-encoding");
    expect(Number(gzipped.headers.get("content-length"))).toBeLessThan(text.length / 2);
    expect(await gzipped.text(), "fetch() gunzips it back into the same text").toBe(text);
  });

  it("is 404 for a stream not offered as HLS, and 405 for a POST", async () => {
    expect((await fetch(httpUrl(live, "/other/x/"))).status).toBe(404);
    expect((await fetch(httpUrl(live, "/live/%00/"))).status).toBe(404);
    expect((await fetch(httpUrl(live, "/live/x/"), { method: "POST" })).status).toBe(405);
    expect((await fetch(httpUrl(live, "/live/x/"), { method: "HEAD" })).status).toBe(200);
  });

  it("gives each offered stream its watch_url in /api/streams", async () => {
    publishers.push(await SyntheticPublisher.start(live.server.port, "my show"));
    publishers.push(await SyntheticPublisher.start(live.server.port, "x", "other"));
    const views = async () => ((await (await fetch(httpUrl(live, "/api/streams"))).json()) as { streams: { key: string; watch_url: string | null }[] }).streams;
    await waitFor(async () => (await views()).length === 2, 10_000, "both streams in /api/streams");
    expect((await views()).map((s) => [s.key, s.watch_url])).toEqual([
      ["live/my show", "/live/my%20show/"],
      ["other/x", null],
    ]);
  });
});

describe("the watch page without hls.enabled", () => {
  const live = httpLiveTest("watch-page-off", { once: true });

  it("is not there: the page, hls.js and the API's watch_url", async () => {
    expect((await fetch(httpUrl(live, "/live/x/"))).status).toBe(404);
    expect((await fetch(httpUrl(live, HLS_JS_PATH))).status).toBe(404);
    publishers.push(await SyntheticPublisher.start(live.server.port, "x"));
    let streams: { key: string; watch_url: string | null }[] = [];
    const views = async () => ((await (await fetch(httpUrl(live, "/api/streams"))).json()) as { streams: typeof streams }).streams;
    await waitFor(async () => (streams = await views()).length === 1, 10_000, "the stream in /api/streams");
    expect(streams.map((s) => [s.key, s.watch_url])).toEqual([["live/x", null]]);
  });
});

describe.skipIf(!requireTool("chromium") || !requireFfmpeg())("the watch page in headless Chromium", () => {
  const live = httpLiveTest("watch-page-browser", {
    adjust: (c) => {
      c.hls.enabled = true;
      // The page's playlist request carries the page's query: without it, this stream's playlist is refused.
      c.auth.mode = "token";
      c.auth.actions = ["play"];
      c.auth.tokens = { "live/watch": "s3cret" };
      // A playlist request for a stream nobody publishes is answered (404) after this.
      c.timeouts.handshakeMs = 1_000;
    },
  });

  it("says the stream is offline, then plays FFmpeg's 1280x720 publish through hls.js, its currentTime advancing", async () => {
    const dir = live.scratch.path;
    const page = await DevToolsPage.open(children, dir, httpUrl(live, "/live/watch/?token=s3cret"));
    pages.push(page);
    // Asked before the page has loaded, too.
    const state = () => page.evaluate<string>(`document.getElementById("state")?.textContent ?? ""`);
    let lastState = "";
    await waitFor(async () => (lastState = await state()).startsWith("offline"), 20_000, "the page to say the stream is offline", () => lastState);

    children.spawn("ffmpeg publisher", [
      "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
      "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
      "-re", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
      "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
      "-c:a", "aac", "-b:a", "64k",
      "-f", "flv", live.server.url("watch"),
    ]);
    const size = () => page.evaluate<string>(`(v => v.videoWidth + "x" + v.videoHeight)(document.getElementById("video"))`);
    let lastSize = "";
    await waitFor(async () => (lastSize = await size()) === "1280x720", 40_000, "the video at 1280x720", () => `size: ${lastSize}`);
    const currentTime = () => page.evaluate<number>(`document.getElementById("video").currentTime`);
    const first = await currentTime();
    let later = first;
    await waitFor(async () => (later = await currentTime()) > first, 10_000, `currentTime past ${first}`, () => `currentTime: ${later}`);
    expect(later).toBeGreaterThan(first);

    expect(await page.evaluate<string>(`document.documentElement.dataset.player + " " + Hls.version`)).toBe(`hls.js ${HLS_JS_VERSION}`);
    const loaded = await page.evaluate<string[]>(`performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname)`);
    expect(loaded).toContain(HLS_JS_PATH);
    expect(loaded).toContain("/live/watch/index.m3u8");
    const details = () => page.evaluate<string>(`document.getElementById("details").textContent`);
    let shown = "";
    await waitFor(async () => /^1280×720 · latency \d+\.\d s$/.test((shown = await details())), 10_000, "the size and latency shown", () => shown);
    expect(await state()).toBe("live");
    console.log(`watch page: ${shown}`);

    // One fixed file, overwritten by each run: there for a human to look at, never piling up.
    const png = join(tmpdir(), "rtmp-server-watch.png");
    rmSync(png, { force: true });
    await Bun.write(png, await page.screenshot());
    console.log(`watch page screenshot: ${png}`);

    const dashboard = await chromiumOnce(children, join(dir, "dashboard"), httpUrl(live, "/"), ["--dump-dom"]);
    expect(dashboard).toContain('<a href="/live/watch/" title="play it in this browser (HLS)">Watch</a>');
  }, 120_000);
});
