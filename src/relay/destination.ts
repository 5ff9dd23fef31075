/**
 * Where a relay destination URL sends one stream: "{app}" and "{name}" filled in; a URL with neither whose
 * path is only an app gets the stream's name appended; the query is kept for the destination, as part of
 * the publish name (where services put stream keys). Also the URL as logs and the API may show it, and
 * the redaction of that query from what a destination says back.
 */
import { rtmpEndpoint, type RtmpUrl } from "./rtmp-client.ts";

export interface ResolvedDestination {
  /** What the client connects to; `name` is the publish name, query included. */
  target: RtmpUrl;
  /** scheme://host[:port]/app/name: no query and no user:password, which may hold secrets. */
  shown: string;
}

/** Query values shorter than this are too common to be keys, and redacting them would garble messages. */
const MIN_SECRET_LENGTH = 4;

/**
 * `text` (an error a destination sent back, which may quote the publish name) without the publish name's
 * query or any of its longer values.
 */
export function redactQuery(text: string, target: RtmpUrl): string {
  const q = target.name.indexOf("?");
  if (q < 0) return text;
  const query = target.name.slice(q);
  const values = [...new URLSearchParams(query.slice(1)).values()].filter((v) => v.length >= MIN_SECRET_LENGTH);
  return [query, ...values].reduce((out, secret) => out.replaceAll(secret, "…"), text);
}

/** The parts of a URL the placeholders may stand in, split without decoding anything. */
const URL_PARTS = /^(rtmps?):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i;

/** The template as it may be shown before it is resolved: scheme, host and path, no query or login. */
export function shownTemplate(template: string): string {
  const parts = URL_PARTS.exec(template);
  if (parts === null) return "(not an rtmp:// URL)";
  return `${parts[1].toLowerCase()}://${parts[2].replace(/^.*@/, "")}${parts[3]}`;
}

/** Throws an Error naming the problem (never the query) when the URL cannot carry this stream. */
export function resolveDestination(template: string, app: string, name: string): ResolvedDestination {
  const parts = URL_PARTS.exec(template);
  if (parts === null) throw new Error("not an rtmp:// or rtmps:// URL");
  const [, rawScheme, authority, rawPath, rawQuery = ""] = parts;
  const scheme = rawScheme.toLowerCase();
  const templated = template.includes("{app}") || template.includes("{name}");
  // The path is sent as written (FFmpeg does not decode it either); the query is URL syntax, so its values are encoded.
  const fill = (text: string, encode: (s: string) => string) =>
    text.replaceAll("{app}", encode(app)).replaceAll("{name}", encode(name));
  const segments = fill(rawPath, (s) => s).split("/").filter((s) => s !== "");
  if (!templated && segments.length === 1) segments.push(...name.split("/").filter((s) => s !== ""));
  if (segments.length < 2) throw new Error("the URL gives no stream name for this stream (its path needs an app and a name)");
  const host = URL.parse(`${scheme}://${authority}/`);
  if (host === null || host.hostname === "") throw new Error("the URL has no usable host");
  const destApp = segments[0];
  const destName = segments.slice(1).join("/");
  return {
    target: { ...rtmpEndpoint(host, destApp), app: destApp, name: destName + fill(rawQuery, encodeURIComponent) },
    shown: `${scheme}://${host.host}/${destApp}/${destName}`,
  };
}
