/**
 * One hook script run: the file is executed directly (argv = [path], no shell) with the RTMP_* variables plus
 * the server's PATH and HOME, in its own process group, which is SIGKILLed as a whole at the timeout. Its
 * stdout and stderr are kept up to SCRIPT_OUTPUT_LIMIT bytes each and logged with the exit code at the end.
 */
import type { Logger } from "../logger.ts";
import type { HookOutcome } from "./hook-stats.ts";

/** Bytes of stdout, and of stderr, kept per run; the rest is counted and replaced by a marker. */
export const SCRIPT_OUTPUT_LIMIT = 4096;

export interface ScriptRun {
  path: string;
  env: Record<string, string>;
  timeoutMs: number;
}

/**
 * Runs to the end of the script and of its output. A process the script leaves behind holding its stdout or
 * stderr keeps the run going, so it is killed with the group at the timeout; a process that should outlive
 * its hook must redirect its output (`cmd >/dev/null 2>&1 &`).
 */
export async function runScript(run: ScriptRun, cancel: AbortSignal, log: Logger): Promise<HookOutcome> {
  const started = performance.now();
  let child;
  try {
    child = Bun.spawn([run.path], { env: run.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  } catch (e) {
    log.error("hook script could not be started", { error: e instanceof Error ? e.message : String(e) });
    return "failed";
  }
  const stdout = new OutputCapture(child.stdout);
  const stderr = new OutputCapture(child.stderr);
  let cutOff: "timeout" | "shutdown" | null = null;
  const kill = (reason: "timeout" | "shutdown") => {
    if (cutOff !== null) return;
    cutOff = reason;
    killGroup(child.pid);
    // A process that left the group (setsid) may still hold a pipe: stop reading rather than wait for it.
    stdout.stop();
    stderr.stop();
  };
  const timer = setTimeout(() => kill("timeout"), run.timeoutMs);
  const onCancel = () => kill("shutdown");
  cancel.addEventListener("abort", onCancel, { once: true });
  await Promise.all([child.exited, stdout.done, stderr.done]);
  clearTimeout(timer);
  cancel.removeEventListener("abort", onCancel);

  const fields = {
    exit_code: child.exitCode,
    ...(child.signalCode === null ? {} : { signal: child.signalCode }),
    duration_ms: Math.round(performance.now() - started),
    ...stdout.field("stdout"),
    ...stderr.field("stderr"),
  };
  if (cutOff === "timeout") {
    log.warn("hook script timed out: process group killed", { timeout_ms: run.timeoutMs, ...fields });
    return "timeout";
  }
  if (cutOff === "shutdown") {
    log.warn("hook script cut off by shutdown: process group killed", fields);
    return "timeout";
  }
  if (child.exitCode === 0) {
    log.info("hook script finished", fields);
    return "ok";
  }
  log.warn("hook script failed", fields);
  return "failed";
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

/** Reads a pipe to its end, keeping the first SCRIPT_OUTPUT_LIMIT bytes. */
class OutputCapture {
  readonly done: Promise<void>;
  readonly stop: () => void;
  private readonly kept = new Uint8Array(SCRIPT_OUTPUT_LIMIT);
  private keptBytes = 0;
  private totalBytes = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    const reader = stream.getReader();
    this.stop = () => void reader.cancel().catch(() => {});
    this.done = (async () => {
      try {
        for (let read = await reader.read(); !read.done; read = await reader.read()) this.keep(read.value);
      } catch {
        // The pipe failed or was cancelled: what was read so far is all there is.
      }
    })();
  }

  /** `{ [name]: text }` for a log record, or nothing when the pipe stayed silent. */
  field(name: string): Record<string, string> {
    return this.totalBytes === 0 ? {} : { [name]: this.text() };
  }

  /** What was kept, without its final newline, then `…[N more bytes]` when something was cut. */
  private text(): string {
    const text = new TextDecoder().decode(this.kept.subarray(0, this.keptBytes)).replace(/\r?\n$/, "");
    const cut = this.totalBytes - this.keptBytes;
    return cut > 0 ? `${text}…[${cut} more bytes]` : text;
  }

  private keep(chunk: Uint8Array): void {
    const room = SCRIPT_OUTPUT_LIMIT - this.keptBytes;
    if (room > 0) {
      const part = chunk.subarray(0, room);
      this.kept.set(part, this.keptBytes);
      this.keptBytes += part.length;
    }
    this.totalBytes += chunk.length;
  }
}
