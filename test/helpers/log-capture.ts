/**
 * A logger whose JSON lines are kept in memory, for assertions (what was logged, and that no secret was) and
 * for failure messages. Depends on nothing but the logger, so unit tests can use it without the server.
 */
import { createLogger, type Logger, type LogLevel } from "../../src/logger.ts";

export type LogRecord = Record<string, unknown> & { msg?: string; level?: string };

export class LogCapture {
  readonly lines: string[] = [];
  readonly write = (line: string): void => {
    this.lines.push(line);
  };

  records(): LogRecord[] {
    return this.lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as LogRecord];
      } catch {
        return [];
      }
    });
  }

  /** The last `n` lines, for failure messages. */
  tail(n = 30): string {
    return this.lines.slice(-n).join("\n");
  }
}

/** A JSON logger at `level` writing into a fresh LogCapture. */
export function capturedLog(level: LogLevel = "debug"): { log: Logger; logs: LogCapture } {
  const logs = new LogCapture();
  return { log: createLogger({ level, format: "json", write: logs.write }), logs };
}
