/**
 * The structured logger: one line per record, JSON (`{"time","level","msg",...fields}`) or text
 * (`<time> INFO msg key=value`). A disabled level costs one comparison, and logging never throws.
 */

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record, e.g. `{ conn_id: "c000001", stream_key: "live/test" }`. */
  child(fields: LogFields): Logger;
  /** Whether `level` would be written: lets a caller skip computing expensive fields. */
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Receives each record as one line without its newline. Default: stdout. */
  write?: (line: string) => void;
  /** Clock for the `time` field; tests pin it. */
  now?: () => Date;
}

export function createLogger(options: LoggerOptions): Logger {
  const sink: Sink = {
    threshold: LOG_LEVELS.indexOf(options.level),
    format: options.format,
    write: options.write ?? writeStdout,
    now: options.now ?? (() => new Date()),
  };
  return new StructuredLogger(sink, {});
}

interface Sink {
  threshold: number;
  format: LogFormat;
  write: (line: string) => void;
  now: () => Date;
}

const DEBUG = 0;
const INFO = 1;
const WARN = 2;
const ERROR = 3;

class StructuredLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly fields: LogFields,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    if (this.sink.threshold <= DEBUG) this.emit("debug", msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    if (this.sink.threshold <= INFO) this.emit("info", msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    if (this.sink.threshold <= WARN) this.emit("warn", msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    if (this.sink.threshold <= ERROR) this.emit("error", msg, fields);
  }

  child(fields: LogFields): Logger {
    return new StructuredLogger(this.sink, { ...this.fields, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return this.sink.threshold <= LOG_LEVELS.indexOf(level);
  }

  private emit(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    // A log call sits in error paths and socket handlers: whatever goes wrong here must not escape.
    try {
      const all = fields === undefined ? this.fields : { ...this.fields, ...fields };
      const time = this.sink.now().toISOString();
      const line =
        this.sink.format === "json" ? jsonLine(time, level, msg, all) : textLine(time, level, msg, all);
      this.sink.write(line);
    } catch {
      // Nowhere left to report a failing clock or sink (e.g. stdout closed): drop the record.
    }
  }
}

function writeStdout(line: string): void {
  process.stdout.write(line + "\n");
}

const RESERVED = new Set(["time", "level", "msg"]);

/** Fields may not replace the record's own keys; a colliding field keeps its value under `_<key>`. */
function fieldKey(key: string): string {
  return RESERVED.has(key) ? `_${key}` : key;
}

function jsonLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `{"time":"${time}","level":"${level}","msg":${JSON.stringify(String(msg))}`;
  for (const key in fields) {
    const json = jsonValue(fields[key]);
    if (json !== undefined) line += `,${JSON.stringify(fieldKey(key))}:${json}`;
  }
  return line + "}";
}

function textLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `${time} ${level.toUpperCase()} ${oneLine(String(msg))}`;
  for (const key in fields) {
    const text = textValue(fields[key]);
    if (text !== undefined) line += ` ${fieldKey(key)}=${text}`;
  }
  return line;
}

/** JSON for one field value, or undefined for values JSON has no form for (undefined, functions). */
function jsonValue(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, safeReplacer());
  } catch {
    // A throwing getter or toJSON: say so rather than lose the record.
    return '"[unserializable]"';
  }
}

function textValue(value: unknown): string | undefined {
  if (value === undefined || typeof value === "function") return undefined;
  if (typeof value === "string") return bareOrQuoted(value);
  if (value instanceof Error) return bareOrQuoted(value.message);
  if (value === null || typeof value !== "object") return String(value);
  return jsonValue(value);
}

/** Values with spaces, quotes or `=` are quoted so that `key=value` pairs stay splittable. */
function bareOrQuoted(text: string): string {
  return /^[^\s"=\\\u0000-\u001f]+$/.test(text) ? text : JSON.stringify(text);
}

/** A message with a newline in it would forge a second record; escape it instead. */
function oneLine(text: string): string {
  return /[\u0000-\u001f]/.test(text) ? JSON.stringify(text) : text;
}

/**
 * A JSON.stringify replacer that never throws on what plain JSON rejects: BigInt becomes a string, an Error
 * its message, and a reference back to an enclosing object "[Circular]" (repeated siblings are fine).
 */
function safeReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  const ancestors: unknown[] = [];
  return function (this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === "bigint") return value.toString();
    if (value instanceof Error) return value.message;
    if (typeof value !== "object" || value === null) return value;
    // `this` is the object holding `value`: everything above it on the stack is a finished sibling branch.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(value)) return "[Circular]";
    ancestors.push(value);
    return value;
  };
}
