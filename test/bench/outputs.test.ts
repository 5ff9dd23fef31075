import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { scratchDir } from "../helpers/media.ts";
import { requireNginx } from "../relay/nginx-destination.ts";
import { waitFor } from "../../support/wait.ts";
import { runLoadOn } from "../../bench/harness.ts";
import { OUTPUTS, RunOutputs, metricValue } from "../../bench/outputs.ts";
import { publicationsIn } from "../../bench/relay-sink.ts";
import { ROOT, rtmpServerTarget, withVariants } from "../../bench/servers.ts";

const METRICS = `# HELP rtmp_hook_deliveries_total Hook deliveries by kind and outcome.
# TYPE rtmp_hook_deliveries_total counter
rtmp_hook_deliveries_total{kind="webhook",outcome="ok"} 12
rtmp_hook_deliveries_total{kind="webhook",outcome="failed"} 1
rtmp_hook_deliveries_total{kind="script",outcome="ok"} 11
rtmp_recording_errors_total 0
`;

describe("what the outputs' checks read", () => {
  it("sums the Prometheus samples of a metric whose labels match", () => {
    expect(metricValue(METRICS, "rtmp_hook_deliveries_total", { kind: "webhook", outcome: "ok" })).toBe(12);
    expect(metricValue(METRICS, "rtmp_hook_deliveries_total", { kind: "webhook" })).toBe(13);
    expect(metricValue(METRICS, "rtmp_hook_deliveries_total")).toBe(24);
    expect(metricValue(METRICS, "rtmp_recording_errors_total")).toBe(0);
    expect(metricValue(METRICS, "rtmp_relay_bytes_sent_total")).toBe(0);
  });

  it("adds up the bytes of each stream the relay sink logged as published", () => {
    const log = "PUBLISH live s0 5021337\nPLAY live s0 100\nPUBLISH live s1 77\nPUBLISH live s0 10\n\n";
    expect(publicationsIn(log)).toEqual(new Map([["s0", 5021347], ["s1", 77]]));
  });
});

describe.skipIf(!requireNginx())("outputs of a real run", () => {
  it("records, relays and delivers hooks for a run with HTTP-FLV players, and the checks find all of it", async () => {
    const [, target] = withVariants(rtmpServerTarget(ROOT), [{ outputs: [...OUTPUTS], protocol: "http-flv" }]);
    const run = await runLoadOn(target, { streams: 2, playersPerStream: 2, seconds: 2, publisher: "ffmpeg" }, "free");
    expect(run.result.errors).toEqual([]);
    expect(run.result.playing).toBe(4);
    expect(run.result.received).toEqual(run.result.expected);
    expect(run.result.latencyMs!.p50).toBeGreaterThan(0);
    expect(run.outputs!.problems).toEqual([]);
    expect(run.outputs!.summary).toMatch(/^recording: 2 files, .* relay sink: 2 streams, .* hooks: (\d+) events to the webhook \(receiver got \1\) and \1 to the script$/);
  }, 60_000);

  it("flags every output that left nothing: no recording, nothing at the sink, no hook delivered", async () => {
    const scratch = scratchDir("bench-outputs");
    const helpers: Subprocess[] = [];
    // The harness's starter, without a server: the helpers start, and nothing ever uses them.
    const start = async (cmd: string[], port: number, cwd = ROOT) => {
      const proc = Bun.spawn(cmd, { cwd, stdin: "ignore", stdout: "ignore", stderr: "inherit" });
      helpers.push(proc);
      const listening = () =>
        Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
          (s) => (s.end(), true),
          () => false,
        );
      await waitFor(listening, 5_000, `${cmd[0]} listening on ${port}`);
      return proc;
    };
    try {
      const outputs = await RunOutputs.start([...OUTPUTS], scratch.path, start);
      expect(outputs.yaml.join("\n")).toContain(`dir: ${JSON.stringify(join(scratch.path, "recordings"))}`);
      expect(outputs.pids).toHaveLength(2);
      const check = await outputs.check({ streams: ["s0"], minBytes: 1000 });
      expect(check.problems).toEqual([
        "recording of s0: 0 files, 0 bytes (< 1000)",
        "relay sink got 0 bytes of s0 (< 1000)",
        "no webhook delivery succeeded",
        "no script delivery succeeded",
      ]);
      expect(check.summary).toBe(
        "recording: 0 files, 0.0 MB; relay sink: 0 streams, 0.0 MB; hooks: 0 events to the webhook (receiver got 0) and 0 to the script",
      );
    } finally {
      for (const proc of helpers) proc.kill("SIGKILL");
      scratch.remove();
    }
  }, 30_000);
});
