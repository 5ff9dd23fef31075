import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCRIPT_OUTPUT_LIMIT } from "../../src/hooks/script.ts";
import { scratchDir } from "../helpers/media.ts";
import { waitFor } from "../../support/wait.ts";
import { type Harness, finished, startHooks } from "./harness.ts";

const dir = scratchDir("hooks-script");
let hooks: Harness | undefined;

afterEach(async () => {
  await hooks?.runner.stop(performance.now());
  hooks = undefined;
});
afterAll(() => dir.remove());

function script(name: string, body: string): string {
  const path = join(dir.path, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function start(settings: Parameters<typeof startHooks>[0]): Harness {
  hooks = startHooks(settings);
  return hooks;
}

async function ran(h: Harness, count: number, timeoutMs = 5_000): Promise<void> {
  await waitFor(() => finished(h.runner.stats().script) >= count, timeoutMs, `${count} script runs`, () => h.logs.tail());
}

/** The environment the script's process was started with, from /proc: exactly what exec handed it. */
const DUMP_ENV = (out: string) => `tr '\\0' '\\n' < /proc/$$/environ > '${out}'`;

function envFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

/** Dead: no such process, or a zombie nobody reaps (this machine's init does not). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].startsWith("Z");
  } catch {
    return true;
  }
}

describe("hook scripts", () => {
  it("run with the RTMP_* variables plus the server's PATH and HOME, and nothing else", async () => {
    const out = join(dir.path, "env.txt");
    const h = start({ scripts: [{ event: "publish_stop", path: script("env.sh", DUMP_ENV(out)) }] });
    h.channel.emit("publish_stop", { connId: "c000001", streamKey: "live/test" }, { video_packets: 250, video_codec: "H264" });
    await ran(h, 1);
    const env = envFile(out);
    expect(env).toEqual({
      RTMP_EVENT_TYPE: "publish_stop",
      RTMP_STREAM_KEY: "live/test",
      RTMP_CONN_ID: "c000001",
      RTMP_TIMESTAMP: env.RTMP_TIMESTAMP,
      RTMP_EVENT_ID: env.RTMP_EVENT_ID,
      RTMP_VIDEO_CODEC: "H264",
      RTMP_VIDEO_PACKETS: "250",
      PATH: process.env.PATH!,
      HOME: process.env.HOME!,
    });
    expect(env.RTMP_TIMESTAMP).toMatch(/^\d{10}$/);
    expect(env.RTMP_EVENT_ID).toMatch(/^[0-9a-f]{8}-1$/);
    expect(h.runner.stats().script).toEqual({ ok: 1, failed: 0, timeout: 0, dropped: 0 });
    expect(h.logs.records().find((r) => r.msg === "hook script finished")).toMatchObject({ level: "info", exit_code: 0 });
  });

  it("get a stream name full of shell metacharacters only as a variable: nothing in it runs", async () => {
    const pwned = join(dir.path, "pwned");
    const name = `live/$(touch ${pwned});rm -f x \`touch ${pwned}2\` 'q' "dq" \\ $HOME\nsecond line | touch ${pwned}3 &`;
    const out = join(dir.path, "key.txt");
    const h = start({ scripts: [{ event: "*", path: script("key.sh", `printf '%s' "$RTMP_STREAM_KEY" > '${out}'`) }] });
    h.channel.emit("publish_start", { streamKey: name }, { publishing_name: name });
    await ran(h, 1);
    expect(readFileSync(out, "utf8")).toBe(name);
    expect([pwned, `${pwned}2`, `${pwned}3`].filter((path) => existsSync(path))).toEqual([]);
  });

  it("have their whole process group killed at the timeout, grandchildren included", async () => {
    const pidFile = join(dir.path, "grandchild.pid");
    const path = script("hang.sh", `sleep 30 &\necho $! > '${pidFile}'\necho started\nwait`);
    const h = start({ timeoutMs: 400, scripts: [{ event: "*", path }] });
    h.channel.emit("publish_start", { streamKey: "live/hang" });
    await ran(h, 1);
    const grandchild = Number(readFileSync(pidFile, "utf8").trim());
    expect(grandchild).toBeGreaterThan(1);
    await waitFor(() => gone(grandchild), 2_000, `grandchild ${grandchild} to die`);
    expect(h.runner.stats().script).toEqual({ ok: 0, failed: 0, timeout: 1, dropped: 0 });
    expect(h.logs.records().find((r) => r.msg === "hook script timed out: process group killed")).toMatchObject({
      level: "warn",
      timeout_ms: 400,
      signal: "SIGKILL",
      stdout: "started",
    });
  });

  it("log a non-zero exit as a warning with the exit code and their output, cut at the limit with a marker", async () => {
    const path = script("loud.sh", `head -c 10000 /dev/zero | tr '\\0' 'x'\necho oops >&2\nexit 3`);
    const h = start({ scripts: [{ event: "*", path }] });
    h.channel.emit("play_stop", { connId: "c000009", streamKey: "live/x" });
    await ran(h, 1);
    expect(h.runner.stats().script).toEqual({ ok: 0, failed: 1, timeout: 0, dropped: 0 });
    const record = h.logs.records().find((r) => r.msg === "hook script failed");
    expect(record).toMatchObject({ level: "warn", exit_code: 3, stderr: "oops", script: path, stream_key: "live/x" });
    expect(record?.stdout).toBe(`${"x".repeat(SCRIPT_OUTPUT_LIMIT)}…[${10_000 - SCRIPT_OUTPUT_LIMIT} more bytes]`);
  });

  it("that cannot be started are logged once per failure with the reason", async () => {
    const notExecutable = join(dir.path, "plain.sh");
    writeFileSync(notExecutable, "#!/bin/sh\necho hi\n");
    const missing = join(dir.path, "missing.sh");
    const h = start({
      scripts: [
        { event: "*", path: missing },
        { event: "*", path: notExecutable },
      ],
    });
    h.channel.emit("connection_accept", { connId: "c1" });
    h.channel.emit("connection_accept", { connId: "c2" });
    await ran(h, 4);
    expect(h.runner.stats().script).toEqual({ ok: 0, failed: 4, timeout: 0, dropped: 0 });
    const errors = h.logs.records().filter((r) => r.msg === "hook script could not be started");
    expect(errors.map((r) => [r.script, r.conn_id, String(r.error).split(":")[0]]).sort()).toEqual([
      [missing, "c1", "ENOENT"],
      [missing, "c2", "ENOENT"],
      [notExecutable, "c1", "EACCES"],
      [notExecutable, "c2", "EACCES"],
    ]);
  });

  it("are killed, group and all, when stop() reaches its deadline", async () => {
    const pidFile = join(dir.path, "stop.pid");
    const path = script("long.sh", `sleep 30 &\necho $! > '${pidFile}'\nwait`);
    const h = start({ timeoutMs: 30_000, scripts: [{ event: "*", path }] });
    h.channel.emit("publish_start", { streamKey: "live/long" });
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"), 5_000, "the script to start");
    await h.runner.stop(performance.now() + 100);
    const grandchild = Number(readFileSync(pidFile, "utf8").trim());
    await waitFor(() => gone(grandchild), 2_000, `grandchild ${grandchild} to die`);
    expect(h.runner.stats().script).toEqual({ ok: 0, failed: 0, timeout: 1, dropped: 0 });
    expect(h.logs.records().some((r) => r.msg === "hook script cut off by shutdown: process group killed")).toBe(true);
  });
});
