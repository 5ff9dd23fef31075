/**
 * Blocking playlist reload (RFC 8216bis 6.2.5.2): the _HLS_msn and _HLS_part directives of a playlist
 * request, and whether a segmenter's window answers them now, later, or never (asked too far ahead: 400).
 */
import type { PlaylistSource } from "./playlist.ts";

export interface ReloadDirective {
  msn: number;
  /** null: the whole segment `msn`. */
  part: number | null;
}

export type ReloadState = "ready" | "wait" | "too-far";

const DECIMAL = /^\d{1,15}$/;

/**
 * The directive of a playlist request's query: null when it has none (answered at once), "bad" when a value
 * is not a decimal integer or _HLS_part comes without _HLS_msn (400).
 */
export function reloadDirective(query: URLSearchParams): ReloadDirective | null | "bad" {
  const msn = query.get("_HLS_msn");
  const part = query.get("_HLS_part");
  if (msn === null) return part === null ? null : "bad";
  if (!DECIMAL.test(msn) || (part !== null && !DECIMAL.test(part))) return "bad";
  return { msn: Number(msn), part: part === null ? null : Number(part) };
}

/** Whether the playlist of `source` holds what `d` asks for. */
export function reloadState(source: PlaylistSource, d: ReloadDirective): ReloadState {
  const { segments, open } = source;
  const lastMsn = segments.length > 0 ? segments[segments.length - 1].msn : source.mediaSequence - 1;
  const openMsn = lastMsn + 1;
  const openParts = open?.msn === openMsn ? open.parts.length : 0;
  if (d.msn > lastMsn + 2) return "too-far";
  if (d.part === null) return d.msn <= lastMsn ? "ready" : "wait";
  // The Advance Part Limit: 3 / PART-TARGET (in seconds) parts past the last one published, or 3.
  const limit = source.partTargetMs < 1000 ? Math.floor(3000 / source.partTargetMs) : 3;
  const ahead = d.msn === openMsn ? d.part + 1 - openParts : d.msn > openMsn ? d.part + 1 : 0;
  if (ahead > limit) return "too-far";
  let { msn, part } = d;
  // A segment already gone: the whole playlist is the answer (6.2.5.2).
  if (segments.length > 0 && msn < segments[0].msn) return "ready";
  for (const segment of segments) {
    if (segment.msn < msn) continue;
    if (part < segment.parts.length) return "ready";
    // Past a segment's last part is part 0 of the next.
    msn++;
    part = 0;
  }
  return msn === openMsn && part < openParts ? "ready" : "wait";
}
