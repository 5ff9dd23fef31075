/**
 * An event as RTMP_* variables: the environment of a hook script and the `stdio: env` block. The fixed keys
 * come first, then one RTMP_<DATA_KEY> per data field in sorted key order, so an event always reads the same.
 */
import type { EventValue, ServerEvent } from "../events/events.ts";

export type Variable = readonly [name: string, value: string];

/** The variables of `event`, in their fixed order. Absent conn_id/stream_key are present and empty. */
export function eventVariables(event: ServerEvent): Variable[] {
  const vars: Variable[] = [
    ["RTMP_EVENT_TYPE", event.type],
    ["RTMP_STREAM_KEY", envValue(event.stream_key ?? "")],
    ["RTMP_CONN_ID", envValue(event.conn_id ?? "")],
    ["RTMP_TIMESTAMP", String(event.timestamp)],
    ["RTMP_EVENT_ID", event.id],
  ];
  const taken = new Set(vars.map(([name]) => name));
  for (const key of Object.keys(event.data).sort()) {
    const name = `RTMP_${key.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}`;
    // A data field never replaces a fixed variable, nor an earlier field that maps to the same name.
    if (taken.has(name)) continue;
    taken.add(name);
    vars.push([name, valueText(event.data[key])]);
  }
  return vars;
}

/**
 * The `stdio: env` block: `KEY=value` lines, then a blank line. A value holding a control character (a
 * newline, say), a double quote or a backslash is written as a JSON string, so one line is always one variable.
 */
export function envBlock(event: ServerEvent): string {
  let text = "";
  for (const [name, value] of eventVariables(event)) text += `${name}=${quoted(value)}\n`;
  return text + "\n";
}

function valueText(value: EventValue): string {
  if (value === null) return "";
  return typeof value === "string" ? envValue(value) : String(value);
}

/** An environment value cannot hold NUL (the spawn would fail): it becomes U+FFFD. */
function envValue(text: string): string {
  return text.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text;
}

function quoted(value: string): string {
  return /[\u0000-\u001f\u007f"\\]/.test(value) ? JSON.stringify(value) : value;
}
