/**
 * What a benchmark HLS viewer reads of a media playlist (RFC 8216bis), whoever wrote it (rtmp-server's fMP4
 * LL-HLS and plain HLS, nginx-rtmp's MPEG-TS HLS): the target durations, the segments with their media
 * sequence numbers and init sections, the parts (of complete segments and of the open one) and the preload
 * hint. Written from the RFC, not from our playlist writer.
 */

export interface PlaylistSegment {
  msn: number;
  uri: string;
  /** EXT-X-MAP's URI in force, or null (MPEG-TS). */
  map: string | null;
}

export interface PlaylistPart {
  /** Media sequence number of the segment it belongs to. */
  msn: number;
  /** Its place in that segment, from 0 (what _HLS_part counts). */
  part: number;
  uri: string;
  map: string | null;
  independent: boolean;
}

export interface MediaPlaylist {
  targetDurationS: number;
  /** PART-TARGET in ms, or null without EXT-X-PART-INF. */
  partTargetMs: number | null;
  segments: PlaylistSegment[];
  /** Every listed part in order: those of complete segments, then those of the open one. */
  parts: PlaylistPart[];
  preloadHint: string | null;
}

/** An attribute's value in a tag's attribute list, quoted or not, or null. */
function attribute(line: string, name: string): string | null {
  const match = new RegExp(`[:,]${name}=(?:"([^"]*)"|([^,]*))`).exec(line);
  return match === null ? null : (match[1] ?? match[2]);
}

/** Throws on text that is not a media playlist. */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== "#EXTM3U") throw new Error(`not a playlist: ${JSON.stringify(text.slice(0, 40))}`);
  const playlist: MediaPlaylist = { targetDurationS: NaN, partTargetMs: null, segments: [], parts: [], preloadHint: null };
  let msn = 0;
  let part = 0;
  let map: string | null = null;
  let segmentNext = false;
  const value = (line: string) => line.slice(line.indexOf(":") + 1);
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    if (!line.startsWith("#")) {
      if (!segmentNext) throw new Error(`a URI without #EXTINF: ${line}`);
      playlist.segments.push({ msn: msn++, uri: line, map });
      [part, segmentNext] = [0, false];
    } else if (line.startsWith("#EXTINF:")) segmentNext = true;
    else if (line.startsWith("#EXT-X-TARGETDURATION:")) playlist.targetDurationS = Number(value(line));
    else if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) msn = Number(value(line));
    else if (line.startsWith("#EXT-X-MAP:")) map = attribute(line, "URI");
    else if (line.startsWith("#EXT-X-PART-INF:")) playlist.partTargetMs = Number(attribute(line, "PART-TARGET")) * 1000;
    else if (line.startsWith("#EXT-X-PART:")) {
      const uri = attribute(line, "URI");
      if (uri === null) throw new Error(`a part without a URI: ${line}`);
      playlist.parts.push({ msn, part: part++, uri, map, independent: attribute(line, "INDEPENDENT") === "YES" });
    } else if (line.startsWith("#EXT-X-PRELOAD-HINT:") && attribute(line, "TYPE") === "PART") {
      playlist.preloadHint = attribute(line, "URI");
    }
  }
  if (!Number.isFinite(playlist.targetDurationS)) throw new Error("a playlist without #EXT-X-TARGETDURATION");
  return playlist;
}
