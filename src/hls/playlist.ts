/**
 * The HLS media playlist of a segmenter's window, as text (RFC 8216bis): segments with their init section
 * (EXT-X-MAP), program date-time and discontinuities; with low latency also the server control, the parts
 * near the live edge (the open segment's too) and the preload hint of the next part. Every URI carries the
 * playlist request's own query (the viewer's token or signature), without its _HLS_ directives.
 */
import type { FileNames } from "./file-names.ts";
import type { Segment } from "./segmenter.ts";

/** What a playlist is made of: the segmenter's public state. */
export interface PlaylistSource {
  readonly segments: readonly Segment[];
  readonly open: Segment | null;
  readonly mediaSequence: number;
  readonly discontinuitySequence: number;
  readonly targetDuration: number;
  readonly partTargetMs: number;
  readonly nextPartIndex: number;
}

/** Parts further than this many target durations from the end are no longer listed (RFC 8216bis 6.2.2). */
const PART_HORIZON = 3;
/** PART-HOLD-BACK in part targets: how far from the live edge a player stays (at least 3, says Apple). */
const PART_HOLD_BACK = 3;

/**
 * The playlist cut at the end of each URI, where the query goes: `.join(query)` gives its text. Rendered once
 * per window state, it serves every viewer's query.
 */
export function playlistTemplate(source: PlaylistSource, names: FileNames, lowLatency: boolean): string[] {
  const { segments, open, targetDuration } = source;
  const chunks: string[] = [];
  let text = `#EXTM3U\n#EXT-X-VERSION:${lowLatency ? 9 : 6}\n#EXT-X-TARGETDURATION:${targetDuration}\n`;
  const line = (s: string) => (text += `${s}\n`);
  // A URI ends the chunk: the query goes right after it.
  const uri = (before: string, name: string, after: string) => {
    chunks.push(text + before + name);
    text = `${after}\n`;
  };
  if (lowLatency) {
    line(`#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(PART_HOLD_BACK * source.partTargetMs)}`);
    line(`#EXT-X-PART-INF:PART-TARGET=${seconds(source.partTargetMs)}`);
  }
  line(`#EXT-X-MEDIA-SEQUENCE:${source.mediaSequence}`);
  line(`#EXT-X-DISCONTINUITY-SEQUENCE:${source.discontinuitySequence}`);

  // Which segments still list their parts: those ending within the horizon of the playlist's end.
  const listParts: boolean[] = [];
  let after = open?.durationMs ?? 0;
  for (let i = segments.length - 1; i >= 0; i--) {
    listParts[i] = lowLatency && after <= PART_HORIZON * targetDuration * 1000;
    after += segments[i].durationMs;
  }
  let init: number | null = null;
  const opening = (segment: Segment) => {
    if (segment.discontinuity) line("#EXT-X-DISCONTINUITY");
    if (segment.init.id !== init) uri('#EXT-X-MAP:URI="', names.init(segment.init.id), '"');
    init = segment.init.id;
    line(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.programDateTime).toISOString()}`);
  };
  const parts = (segment: Segment) => {
    for (const part of segment.parts) {
      const independent = part.independent ? ",INDEPENDENT=YES" : "";
      uri(`#EXT-X-PART:DURATION=${seconds(part.durationMs)},URI="`, names.part(part.index), `"${independent}`);
    }
  };
  segments.forEach((segment, i) => {
    opening(segment);
    if (listParts[i]) parts(segment);
    uri(`#EXTINF:${seconds(segment.durationMs)},\n`, names.segment(segment.msn), "");
  });
  if (lowLatency) {
    if (open !== null && open.parts.length > 0) {
      opening(open);
      parts(open);
    }
    uri('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="', names.part(source.nextPartIndex), '"');
  }
  chunks.push(text);
  return chunks;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}
