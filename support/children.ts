/**
 * Child processes a test or a benchmark starts (FFmpeg, nginx, the server binary): their output drained and
 * kept for failure messages, and every one of them killed at the end, even when the run failed.
 */
import type { Subprocess } from "bun";
import { within } from "./wait.ts";

export interface ChildOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
}

/** A spawned process whose stdout and stderr are drained continuously (a full pipe would stall it). */
export class Child {
  readonly startedAt = performance.now();
  /** performance.now() when it exited, null while it runs. */
  exitedAt: number | null = null;
  exitCode: number | null = null;
  readonly exited: Promise<number>;
  private out = "";
  private err = "";
  private readonly proc: Subprocess<"ignore", "pipe", "pipe">;

  constructor(
    readonly name: string,
    readonly cmd: string[],
    options: ChildOptions = {},
  ) {
    this.proc = Bun.spawn(cmd, {
      cwd: options.cwd,
      env: options.env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const drained = Promise.all([
      drain(this.proc.stdout, (text) => (this.out += text)),
      drain(this.proc.stderr, (text) => (this.err += text)),
    ]);
    this.exited = this.proc.exited.then(async (code) => {
      this.exitedAt = performance.now();
      this.exitCode = code;
      await drained;
      return code;
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** Milliseconds from spawn to exit (or to now, while running). */
  get elapsedMs(): number {
    return (this.exitedAt ?? performance.now()) - this.startedAt;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.running) this.proc.kill(signal);
  }

  /** The exit code, or an error naming the process (with its stderr) if it has not exited in time. */
  async waitExit(timeoutMs: number): Promise<number> {
    try {
      return await within(this.exited, timeoutMs, `${this.name} to exit`);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.describe()}`);
    }
  }

  /** For assertion messages: the command line and what it printed. */
  describe(): string {
    const tail = (text: string) => (text.length > 4000 ? `...${text.slice(-4000)}` : text);
    return [
      `$ ${this.cmd.join(" ")}`,
      `exit: ${this.exitCode ?? "(running)"} after ${Math.round(this.elapsedMs)} ms`,
      this.err === "" ? "stderr: (empty)" : `stderr:\n${tail(this.err)}`,
      this.out === "" ? "" : `stdout:\n${tail(this.out)}`,
    ].join("\n");
  }
}

async function drain(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }));
}

/** Every process a test file starts; `killAll()` in afterEach/afterAll leaves none behind, even on failure. */
export class Children {
  private readonly all: Child[] = [];

  spawn(name: string, cmd: string[], options?: ChildOptions): Child {
    const child = new Child(name, cmd, options);
    this.all.push(child);
    return child;
  }

  async killAll(): Promise<void> {
    const live = this.all.splice(0);
    for (const child of live) child.kill("SIGKILL");
    await Promise.all(live.map((child) => Promise.race([child.exited, Bun.sleep(5_000)])));
  }
}

/** Runs a command to completion, capturing its output. */
export async function run(cmd: string[], options?: ChildOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Child(cmd[0], cmd, options);
  const code = await child.exited;
  return { code, stdout: child.stdout, stderr: child.stderr };
}
