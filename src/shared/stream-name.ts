/**
 * Turning what OBS and FFmpeg really send (connect's app, publish/play's name) into a stream key. They
 * disagree on where a path splits (FFmpeg puts an instance path into the app, OBS users paste the key into
 * the server field, trailing slashes, a ?query on the name or the tcUrl), so the key is built from the path
 * segments of app + name, and the query is kept apart for auth: it never becomes part of the key.
 */

export interface StreamName {
  /** First path segment (what the operator thinks of as the app). */
  app: string;
  /** The rest of the path. */
  name: string;
  /** `app/name`: the registry key. */
  key: string;
  /** Query parameters from the app and the name (the name's win), e.g. { token: "secret" }. */
  query: Record<string, string>;
}

/** Longest key accepted; longer names are refused (they cannot be anything but abuse). */
export const MAX_KEY_LENGTH = 512;

function splitQuery(s: string, into: Record<string, string>): string {
  const q = s.indexOf("?");
  if (q < 0) return s;
  for (const [k, v] of new URLSearchParams(s.slice(q + 1))) into[k] = v;
  return s.slice(0, q);
}

/** The app as connect gave it, with any query and stray slashes removed. */
export function cleanApp(app: string): string {
  return splitQuery(app, {}).split("/").filter(Boolean).join("/");
}

/**
 * Build the key from connect's app and publish/play's name. Returns null when no usable name remains
 * (empty, only slashes, too long, or control characters).
 */
export function parseStreamName(app: string, name: string): StreamName | null {
  const query: Record<string, string> = {};
  const appPath = splitQuery(app, query);
  const namePath = splitQuery(name, query);
  const segments = `${appPath}/${namePath}`.split("/").filter((s) => s !== "" && s !== "." && s !== "..");
  if (segments.length === 0) return null;
  const key = segments.join("/");
  if (key.length > MAX_KEY_LENGTH || /[\u0000-\u001f\u007f]/.test(key)) return null;
  // With no app at all (rtmp://host/name), the whole key is the name under an empty app.
  if (segments.length === 1) return { app: "", name: key, key, query };
  return { app: segments[0], name: segments.slice(1).join("/"), key, query };
}
