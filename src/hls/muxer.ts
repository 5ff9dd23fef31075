/**
 * One stream's live HLS: an output of the stream (joining mid-publication, its GOP cache made the first
 * segment at once), a segmenter's window, and the answers to requests for its playlist and files, waiting
 * when asked for what is about to be published. It lasts across publications (a republish is a
 * discontinuity on the same URL) until nobody asks for it.
 */
import type { Frame } from "../media/frame.ts";
import type { StreamOutput } from "../streams/output.ts";
import type { Stream } from "../streams/stream.ts";
import { FileNames } from "./file-names.ts";
import { playlistTemplate } from "./playlist.ts";
import { type ReloadDirective, reloadDirective, reloadState } from "./reload.ts";
import { Segmenter, type SegmenterSettings, type SequenceStart } from "./segmenter.ts";
import { type WaitResult, Waiters } from "./waiters.ts";

export interface MuxerSettings extends SegmenterSettings {
  lowLatency: boolean;
}

/** What a request gets: a playlist, a file's bytes (the Blob the segmenter keeps), or an error status. */
export type HlsReply =
  | { status: 200; playlist: string }
  | { status: 200; body: Blob; contentType: string }
  | { status: 400 | 404 | 503; message: string };

/** Requests one muxer lets wait at once (blocking reloads, hinted parts): past it they get 503. */
const MAX_WAITERS = 2048;
/** How long the first playlist waits for a first segment (a stream just published, no GOP cache yet). */
const FIRST_SEGMENT_WAIT_MS = 8_000;
/** Playlist texts kept for the window as it is (one per query: viewers with tokens of their own each have one). */
const CACHED_PLAYLISTS = 16;

export class HlsMuxer implements StreamOutput {
  readonly names = new FileNames();
  private readonly segmenter: Segmenter;
  private readonly waiters = new Waiters(MAX_WAITERS);
  /** performance.now() when its publication ended; null while one feeds it. */
  unpublishedAt: number | null = null;
  /** While the GOP cache is replayed: when, and the stream's newest timestamp (to date the cached frames). */
  private replay: { now: number; last: number } | null = null;
  /**
   * The playlist of the window as it is now, rendered once for every request until the next publication: its
   * template, and its text for the last CACHED_PLAYLISTS queries asked (oldest first).
   */
  private template: string[] | null = null;
  private readonly playlists = new Map<string, string>();
  /** Until the first segment is listed, when it is cut (cutFirst): "tracks" once it has every track, "part" at its first part. */
  private firstCut: "tracks" | "part" | null = null;

  constructor(
    readonly key: string,
    private readonly settings: MuxerSettings,
    start: SequenceStart,
  ) {
    this.segmenter = new Segmenter(settings, start, () => this.published());
  }

  /** Where a later muxer of the stream starts numbering. */
  get sequenceEnd(): SequenceStart {
    return this.segmenter.sequenceEnd;
  }

  get targetDuration(): number {
    return this.segmenter.targetDuration;
  }

  /** Bytes of the window (complete segments and the open one's parts). */
  get bytes(): number {
    return this.segmenter.bytes;
  }

  /** Start feeding on `stream`'s publication; what its GOP cache holds is a segment at once. False: not published. */
  attach(stream: Stream): boolean {
    this.replay = { now: Date.now(), last: stream.lastTimestamp };
    const attached = stream.addOutput(this);
    this.replay = null;
    if (attached) {
      this.firstCut = this.segmenter.open === null ? "part" : "tracks";
      this.cutFirst();
    }
    return attached;
  }

  /**
   * The first playlist waits for no whole segment: the first one is cut short, as soon as it has a sample of
   * every track (VLC 3.0 never starts a live fMP4 playlist whose first fragment lacks one of the init section's
   * tracks) when the GOP cache gave frames, at its first part when the muxer started before the stream's
   * first keyframe. A first segment that completed meanwhile ends the wait.
   */
  private cutFirst(): void {
    const s = this.segmenter;
    if (s.segments.length === 0) {
      if (!s.openHasEveryTrack || (this.firstCut === "part" && s.open!.parts.length === 0)) return;
      s.cut();
    }
    this.firstCut = null;
  }

  /** A new publication of the stream feeds it (its output factory): a discontinuity on the same playlist. */
  resume(): StreamOutput {
    this.unpublishedAt = null;
    return this;
  }

  frame(frame: Frame): void {
    const r = this.replay;
    // A cached frame arrived as long before the newest one as its timestamp says.
    const arrival = r === null ? Date.now() : r.now - ((r.last - frame.timestamp) | 0);
    this.segmenter.frame(frame, arrival);
    if (this.firstCut !== null && r === null) this.cutFirst();
  }

  end(): void {
    this.segmenter.end();
    this.unpublishedAt = performance.now();
  }

  /** Nobody asks any more (or shutdown): waiting requests are answered, held frames let go. */
  stop(): void {
    this.waiters.close();
    this.segmenter.close();
  }

  /**
   * The media playlist; with a blocking-reload directive (low latency), once it holds what was asked for. What
   * is there already is answered at once, not through a promise: most requests of a viewer at the live edge.
   */
  playlist(query: URLSearchParams, carried: string, signal: AbortSignal): HlsReply | Promise<HlsReply> {
    const directive = this.settings.lowLatency ? reloadDirective(query) : null;
    if (directive === "bad") return { status: 400, message: "bad _HLS_msn or _HLS_part" };
    const s = this.segmenter;
    const state = (d: ReloadDirective) => reloadState(s, d);
    if (directive !== null && state(directive) === "too-far") return { status: 400, message: "_HLS_msn or _HLS_part too far ahead" };
    const ready = () => s.segments.length > 0 && (directive === null || state(directive) === "ready");
    const reply = (): HlsReply => ({ status: 200, playlist: this.playlistText(carried) });
    if (ready()) return reply();
    const timeout = directive === null && s.segments.length === 0 ? FIRST_SEGMENT_WAIT_MS : this.blockMs;
    return this.waitFor(ready, timeout, signal, reply);
  }

  /** A part or a segment was published: the playlist changed, and the requests waiting for it may be answered. */
  private published(): void {
    this.template = null;
    this.playlists.clear();
    this.waiters.wake();
  }

  private playlistText(query: string): string {
    const cached = this.playlists.get(query);
    if (cached !== undefined) return cached;
    this.template ??= playlistTemplate(this.segmenter, this.names, this.settings.lowLatency);
    const text = this.template.join(query);
    if (this.playlists.size >= CACHED_PLAYLISTS) this.playlists.delete(this.playlists.keys().next().value!);
    this.playlists.set(query, text);
    return text;
  }

  /** An init section, a segment or a part; the part the playlist hints at is answered once it is published. */
  file(name: string, signal: AbortSignal): HlsReply | Promise<HlsReply> {
    const file = this.names.parse(name);
    const s = this.segmenter;
    if (file === null) return NOT_FOUND;
    const contentType = this.contentType;
    if (file.kind === "init") {
      const init = s.initSection(file.n);
      return init === undefined ? NOT_FOUND : { status: 200, body: init.body, contentType };
    }
    if (file.kind === "segment") {
      const body = s.segment(file.n)?.body ?? null;
      return body === null ? NOT_FOUND : { status: 200, body, contentType };
    }
    const reply = (): HlsReply => {
      const part = s.part(file.n);
      return part === undefined ? NOT_FOUND : { status: 200, body: part.body, contentType };
    };
    if (s.part(file.n) !== undefined || file.n !== s.nextPartIndex) return reply();
    return this.waitFor(() => s.part(file.n) !== undefined, this.blockMs, signal, reply);
  }

  /** A blocking request gives up after three target durations (RFC 8216bis 6.2.5.2). */
  private get blockMs(): number {
    return 3_000 * this.segmenter.targetDuration;
  }

  private get contentType(): string {
    return this.segmenter.hasVideo ? "video/mp4" : "audio/mp4";
  }

  /** `reply()` once `ready` holds; else the error reply (timed out, muxer stopped, too many waiting). */
  private async waitFor(ready: () => boolean, timeoutMs: number, signal: AbortSignal, reply: () => HlsReply): Promise<HlsReply> {
    const wait = this.waiters.wait(ready, timeoutMs, signal);
    if (wait === null) return { status: 503, message: "too many requests waiting" };
    const result: WaitResult = await wait;
    if (result === "ready") return reply();
    return { status: 503, message: result === "timeout" ? "not available yet" : "stream closed" };
  }
}

const NOT_FOUND: HlsReply = { status: 404, message: "not found" };
