/**
 * The relay destination of `--with relay`: nginx-rtmp on its own port and in its own directory, on the
 * clients' core (never the server under test), logging each publication it received with its byte count so
 * that the run can check every stream arrived.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { HelperStarter } from "./outputs.ts";
import { nginxCommand } from "./servers.ts";

const STOP_GRACE_MS = 3_000;

/** Stream name -> bytes received, from the sink's access log lines (`PUBLISH live s0 5021337`). */
export function publicationsIn(log: string): Map<string, number> {
  const received = new Map<string, number>();
  for (const line of log.split("\n")) {
    const match = /^PUBLISH live (\S+) (\d+)$/.exec(line.trim());
    if (match !== null) received.set(match[1], (received.get(match[1]) ?? 0) + Number(match[2]));
  }
  return received;
}

export class RelaySink {
  private constructor(
    private readonly proc: Subprocess,
    private readonly port: number,
    private readonly accessLog: string,
  ) {}

  static async start(dir: string, port: number, startHelper: HelperStarter): Promise<RelaySink> {
    mkdirSync(dir);
    const accessLog = join(dir, "logs", "access.log");
    const { cmd, cwd } = nginxCommand(dir, port, [
      "log_format publications '$command $app $name $bytes_received';",
      `access_log ${accessLog} publications;`,
    ]);
    return new RelaySink(await startHelper(cmd, port, cwd), port, accessLog);
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** The destination URL: a single path segment, so the server appends each stream's name. */
  get url(): string {
    return `rtmp://127.0.0.1:${this.port}/live`;
  }

  /** Shuts nginx down gracefully (a publication is logged when its connection closes), then reads its log. */
  async stop(): Promise<Map<string, number>> {
    this.proc.kill("SIGQUIT");
    if (!(await Promise.race([this.proc.exited.then(() => true), Bun.sleep(STOP_GRACE_MS).then(() => false)]))) {
      this.proc.kill("SIGKILL");
    }
    return publicationsIn(existsSync(this.accessLog) ? readFileSync(this.accessLog, "utf8") : "");
  }
}
