/**
 * /metrics: the exposition format byte for byte (escaping, cumulative histogram buckets), what a live
 * server reports (connections by protocol and role, streams, players, bytes, auth), promtool's verdict on
 * it, and the bound on per-stream series.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { MAX_LABELLED_STREAMS } from "../../src/http/metrics.ts";
import { Exposition } from "../../src/http/prometheus-text.ts";
import { Histogram } from "../../src/shared/server-stats.ts";
import { waitFor } from "../../support/wait.ts";
import { httpLiveTest, httpUrl, RawHttpClient, requireTool, SyntheticPublisher } from "./harness.ts";

const publishers: SyntheticPublisher[] = [];
const clients: RawHttpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(publishers.splice(0).map((p) => p.close()));
});

describe("the Prometheus text format", () => {
  it("writes HELP and TYPE, escaped label values, and cumulative histogram buckets", () => {
    const out = new Exposition();
    out.gauge("rtmp_a", "A gauge.", 3);
    out.counter("rtmp_b_total", "Line one\nback\\slash.", [
      [{ stream: 'live/"q"\\x\ny' }, 1.5],
      [{ kind: "ok", outcome: "failed" }, 0],
    ]);
    const h = new Histogram([0.1, 1]);
    for (const v of [0.05, 0.5, 0.7, 3]) h.observe(v);
    out.histogram("rtmp_c_seconds", "A histogram.", h);
    out.gauge("rtmp_empty", "No series.", []);
    expect(out.toString()).toBe(
      [
        "# HELP rtmp_a A gauge.",
        "# TYPE rtmp_a gauge",
        "rtmp_a 3",
        "# HELP rtmp_b_total Line one\\nback\\\\slash.",
        "# TYPE rtmp_b_total counter",
        'rtmp_b_total{stream="live/\\"q\\"\\\\x\\ny"} 1.5',
        'rtmp_b_total{kind="ok",outcome="failed"} 0',
        "# HELP rtmp_c_seconds A histogram.",
        "# TYPE rtmp_c_seconds histogram",
        'rtmp_c_seconds_bucket{le="0.1"} 1',
        'rtmp_c_seconds_bucket{le="1"} 3',
        'rtmp_c_seconds_bucket{le="+Inf"} 4',
        "rtmp_c_seconds_sum 4.25",
        "rtmp_c_seconds_count 4",
        "# HELP rtmp_empty No series.",
        "# TYPE rtmp_empty gauge",
        "",
      ].join("\n"),
    );
  });
});

/** The value of the sample `series` (name plus labels, exactly as written) in an exposition. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no sample ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

describe.skipIf(!requireTool("promtool"))("/metrics of a live server", () => {
  const live = httpLiveTest("http-metrics");

  async function metrics(): Promise<string> {
    const res = await fetch(httpUrl(live, "/metrics"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    return res.text();
  }

  async function promtool(text: string): Promise<{ code: number; output: string }> {
    const proc = Bun.spawn(["promtool", "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, output: `${out}${err}` };
  }

  it("reports players of every protocol, bytes, auth and histograms, and promtool accepts it", async () => {
    const p = await SyntheticPublisher.start(live.server.port, "m");
    publishers.push(p);
    p.frames(30);
    await live.rawPlayer("m");
    const http = await RawHttpClient.request(live.server.server.httpPort!, "/live/m.flv");
    clients.push(http);
    const ws = new WebSocket(httpUrl(live, "/live/m.flv").replace("http:", "ws:"));
    await new Promise((resolve) => (ws.onopen = resolve));
    await live.server.waitForPlayers("m", 3);
    p.frames(5);
    await waitFor(() => http.received > 2000, 5_000, "the HTTP player to get media");

    const text = await metrics();
    const check = await promtool(text);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);
    expect(sample(text, "rtmp_connections")).toBe(4);
    expect(sample(text, 'rtmp_connections_by_type{protocol="rtmp",role="publisher"}')).toBe(1);
    expect(sample(text, 'rtmp_connections_by_type{protocol="rtmp",role="player"}')).toBe(1);
    expect(sample(text, 'rtmp_connections_by_type{protocol="http-flv",role="player"}')).toBe(1);
    expect(sample(text, 'rtmp_connections_by_type{protocol="ws-flv",role="player"}')).toBe(1);
    expect(sample(text, "rtmp_streams")).toBe(1);
    expect(sample(text, "rtmp_players")).toBe(3);
    expect(sample(text, 'rtmp_players_by_protocol{protocol="ws-flv"}')).toBe(1);
    expect(sample(text, 'rtmp_stream_players{stream="live/m"}')).toBe(3);
    expect(sample(text, "rtmp_bytes_received_total")).toBeGreaterThan(30_000);
    expect(sample(text, "rtmp_bytes_sent_total")).toBeGreaterThan(2_000);
    expect(sample(text, "rtmp_frames_dropped_total")).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'rtmp_auth_decisions_total{result="allowed"}')).toBe(4);
    expect(sample(text, 'rtmp_auth_decisions_total{result="denied"}')).toBe(0);
    expect(sample(text, 'rtmp_hook_deliveries_total{kind="webhook",outcome="ok"}')).toBe(0);
    expect(sample(text, "rtmp_time_to_first_frame_seconds_count")).toBe(3);
    expect(sample(text, "rtmp_recordings")).toBe(0);
    expect(sample(text, 'rtmp_relay_destinations{state="live"}')).toBe(0);
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) expect(line).toStartWith("rtmp_");
    ws.close();
  });

  it(`labels only the ${MAX_LABELLED_STREAMS} busiest streams`, async () => {
    const count = MAX_LABELLED_STREAMS + 5;
    const started = await Promise.all(Array.from({ length: count }, (_, i) => SyntheticPublisher.start(live.server.port, `s${i}`)));
    publishers.push(...started);
    // The busiest: s104 has a player, so it must be among the labelled ones.
    await live.rawPlayer(`s${count - 1}`);
    await live.server.waitForPlayers(`s${count - 1}`, 1);
    const text = await metrics();
    expect(sample(text, "rtmp_streams")).toBe(count);
    const labelled = text.split("\n").filter((l) => l.startsWith("rtmp_stream_players{"));
    expect(labelled).toHaveLength(MAX_LABELLED_STREAMS);
    expect(labelled[0]).toBe(`rtmp_stream_players{stream="live/s${count - 1}"} 1`);
    expect((await promtool(text)).code).toBe(0);
  }, 30_000);
});
