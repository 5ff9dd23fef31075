/**
 * The outputs a `--with` run turns on in rtmp-server for every stream: recording (into the run's scratch
 * directory), a relay to an nginx-rtmp sink, and hooks (every event to a webhook receiver and to a script).
 * What they need runs on the clients' core. After the run each output is checked to have done its work, so
 * that a broken output is not mistaken for a cheap one.
 */
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../support/free-port.ts";
import { readFlvTags } from "../support/flv-tags.ts";
import { HookReceiver } from "./hook-receiver.ts";
import { RelaySink } from "./relay-sink.ts";

export const OUTPUTS = ["recording", "relay", "hooks"] as const;
export type Output = (typeof OUTPUTS)[number];
/** How a row's label names its outputs: `+rec+relay`. */
export const OUTPUT_TAGS: Record<Output, string> = { recording: "rec", relay: "relay", hooks: "hooks" };

/** Starts a helper process on the clients' core; resolves once it listens on `port`. */
export type HelperStarter = (cmd: string[], port: number, cwd?: string) => Promise<Subprocess>;

/** What the run's streams should have left: a recording and a relayed publication each, of at least minBytes. */
export interface Expectation {
  streams: string[];
  minBytes: number;
}

/** What the checks found: a line for the notes under the tables, and what was wrong (empty when nothing). */
export interface OutputsCheck {
  summary: string;
  problems: string[];
}

const SCRIPT = "#!/bin/sh\nexit 0\n";
/** Hook deliveries are settled when their count holds this long; they get at most HOOKS_SETTLE_MS. */
const HOOKS_QUIET_MS = 300;
const HOOKS_SETTLE_MS = 10_000;
const MB = 1e6;

/** The sum of a metric's samples whose labels include all of `labels`, from Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = match[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

export class RunOutputs {
  /** The server's /metrics as it was when the load ended. */
  private metrics = "";

  private constructor(
    private readonly outputs: Output[],
    private readonly recordings: string,
    private readonly sink: RelaySink | null,
    private readonly receiver: HookReceiver | null,
    private readonly script: string,
  ) {}

  /** Starts what `outputs` need, with their files in `dir`. */
  static async start(outputs: Output[], dir: string, startHelper: HelperStarter): Promise<RunOutputs> {
    const script = join(dir, "hook.sh");
    let sink: RelaySink | null = null;
    let receiver: HookReceiver | null = null;
    try {
      if (outputs.includes("relay")) sink = await RelaySink.start(join(dir, "sink"), freePort(), startHelper);
      if (outputs.includes("hooks")) {
        receiver = await HookReceiver.start(freePort(), startHelper);
        writeFileSync(script, SCRIPT);
        chmodSync(script, 0o755);
      }
    } catch (err) {
      await Promise.all([sink?.stop(), receiver?.stop()]);
      throw err;
    }
    return new RunOutputs(outputs, join(dir, "recordings"), sink, receiver, script);
  }

  /** The server's configuration for them. */
  get yaml(): string[] {
    const lines: string[] = [];
    if (this.outputs.includes("recording")) {
      lines.push("recording:", "  enabled: true", `  dir: ${JSON.stringify(this.recordings)}`);
    }
    if (this.sink !== null) lines.push("relay:", `  destinations: [${JSON.stringify(this.sink.url)}]`);
    if (this.receiver !== null) {
      lines.push(
        "hooks:",
        `  webhooks: [{ event: "*", url: ${JSON.stringify(this.receiver.url)} }]`,
        `  scripts: [{ event: "*", path: ${JSON.stringify(this.script)} }]`,
      );
    }
    return lines;
  }

  /** Helper processes, whose CPU counts as the clients'. */
  get pids(): number[] {
    return [this.sink?.pid, this.receiver?.pid].filter((pid) => pid !== undefined);
  }

  /**
   * Reads the server's counters once the load has ended, before the server stops. With hooks, once their
   * deliveries have settled: the events of the load's last moment (players leaving) are still queued.
   */
  async scrape(httpPort: number): Promise<void> {
    const read = async () => {
      const reply = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
      return reply.text();
    };
    this.metrics = await read();
    const deadline = performance.now() + HOOKS_SETTLE_MS;
    for (let before = -1; this.receiver !== null && performance.now() < deadline; ) {
      const delivered = metricValue(this.metrics, "rtmp_hook_deliveries_total");
      if (delivered === before) return;
      before = delivered;
      await Bun.sleep(HOOKS_QUIET_MS);
      this.metrics = await read();
    }
  }

  /** After the server has stopped: stops the helpers and checks what each output did. */
  async check(expect: Expectation): Promise<OutputsCheck> {
    const found: OutputsCheck[] = [];
    if (this.outputs.includes("recording")) found.push(this.checkRecordings(expect));
    if (this.sink !== null) found.push(this.checkRelay(expect, await this.sink.stop()));
    if (this.receiver !== null) found.push(this.checkHooks(await this.receiver.received()));
    await this.stop();
    return { summary: found.map((c) => c.summary).join("; "), problems: found.flatMap((c) => c.problems) };
  }

  /** Stops the helpers (again, harmlessly, after check()). */
  async stop(): Promise<void> {
    await Promise.all([this.sink?.stop(), this.receiver?.stop()]);
  }

  private checkRecordings({ streams, minBytes }: Expectation): OutputsCheck {
    const all = existsSync(this.recordings) ? readdirSync(this.recordings) : [];
    const files = all.filter((f) => f.endsWith(".flv")).sort();
    const size = (f: string) => statSync(join(this.recordings, f)).size;
    const problems: string[] = [];
    for (const name of streams) {
      const mine = files.filter((f) => f.startsWith(`live_${name}_`));
      const bytes = mine.reduce((n, f) => n + size(f), 0);
      if (bytes < minBytes) problems.push(`recording of ${name}: ${mine.length} files, ${bytes} bytes (< ${minBytes})`);
    }
    const errors = metricValue(this.metrics, "rtmp_recording_errors_total");
    if (errors > 0) problems.push(`${errors} recordings ended with an error`);
    const total = files.reduce((n, f) => n + size(f), 0);
    let summary = `recording: ${files.length} files, ${(total / MB).toFixed(1)} MB`;
    if (files.length > 0) {
      const tags = this.tagCounts(files[0], problems);
      summary += ` (${files[0]}: ${tags.video} video, ${tags.audio} audio tags)`;
      if (tags.video === 0) problems.push(`${files[0]} holds no video`);
    }
    return { summary, problems };
  }

  /** The first recording read back as FLV: a file that does not parse is a problem too. */
  private tagCounts(file: string, problems: string[]): { video: number; audio: number } {
    try {
      const tags = readFlvTags(readFileSync(join(this.recordings, file)));
      return { video: tags.filter((t) => t.type === 9).length, audio: tags.filter((t) => t.type === 8).length };
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
      return { video: 0, audio: 0 };
    }
  }

  private checkRelay({ streams, minBytes }: Expectation, received: Map<string, number>): OutputsCheck {
    const problems = streams
      .filter((name) => (received.get(name) ?? 0) < minBytes)
      .map((name) => `relay sink got ${received.get(name) ?? 0} bytes of ${name} (< ${minBytes})`);
    const dropped = metricValue(this.metrics, "rtmp_relay_frames_dropped_total");
    const reconnects = metricValue(this.metrics, "rtmp_relay_reconnects_total");
    if (dropped > 0) problems.push(`relay dropped ${dropped} frames`);
    if (reconnects > 0) problems.push(`relay reconnected ${reconnects} times`);
    const total = [...received.values()].reduce((a, b) => a + b, 0);
    return { summary: `relay sink: ${received.size} streams, ${(total / MB).toFixed(1)} MB`, problems };
  }

  private checkHooks(received: number): OutputsCheck {
    const problems: string[] = [];
    const count = (kind: string, outcome: string) =>
      metricValue(this.metrics, "rtmp_hook_deliveries_total", { kind, outcome });
    const ok = { webhook: count("webhook", "ok"), script: count("script", "ok") };
    for (const kind of ["webhook", "script"] as const) {
      if (ok[kind] === 0) problems.push(`no ${kind} delivery succeeded`);
      for (const outcome of ["failed", "timeout"]) {
        const n = count(kind, outcome);
        if (n > 0) problems.push(`${n} ${kind} deliveries ${outcome === "failed" ? "failed" : "timed out"}`);
      }
    }
    const dropped = metricValue(this.metrics, "rtmp_hook_events_dropped_total");
    if (dropped > 0) problems.push(`${dropped} hook events dropped`);
    // Every event goes to both hooks.
    if (ok.script !== ok.webhook) problems.push(`${ok.webhook} events reached the webhook, ${ok.script} the script`);
    if (received < ok.webhook) problems.push(`the receiver got ${received} webhooks, the server counted ${ok.webhook}`);
    const summary = `hooks: ${ok.webhook} events to the webhook (receiver got ${received}) and ${ok.script} to the script`;
    return { summary, problems };
  }
}
