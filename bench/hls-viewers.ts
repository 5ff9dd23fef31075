/**
 * Benchmark HLS viewers, each on its own keep-alive connection. A low-latency one does what hls.js does: the
 * playlist, then over and over a blocking reload (_HLS_msn/_HLS_part) for the part after the last it has, and
 * the new parts it lists. A plain one polls the playlist every half target duration and fetches the new
 * segments. Both start at the live edge (the last independent part, the last segment), read every fMP4
 * sample (or MPEG-TS frame) they receive and hand it on with its decode time and, for the synthetic feeds,
 * its stamps. They stop when closed, after MAX_FAILURES failed requests in a row, or after MAX_VIEWER_MS.
 */
import { MessageType } from "../src/protocol/message.ts";
import { boxes, readFragment, readInit } from "../support/fmp4.ts";
import { type PlayConnection, median } from "./audience.ts";
import { KeepAliveConnection } from "./keep-alive-connection.ts";
import { type MediaPlaylist, type PlaylistPart, type PlaylistSegment, parseMediaPlaylist } from "./media-playlist.ts";
import { metricValue } from "./outputs.ts";
import { readSampleStamp, wallClock } from "./stamps.ts";
import { tsFrames } from "./ts-frame-reader.ts";

export type Stamps = ReturnType<typeof readSampleStamp>;

export interface HlsViewerOptions {
  lowLatency: boolean;
  /** For the first playlist that lists a segment (nginx-rtmp answers 404 until its first segment is written). */
  timeoutMs: number;
  /** A frame received: its message type (video or audio), decode time, and stamps (null where it has none). */
  onFrame(type: number, timestampMs: number, stamps: Stamps): void;
  /** Called once, when the viewer stops after it started: with the reason, unless close() stopped it. */
  onClose(err?: Error): void;
}

/** Consecutive failed requests (an error status, a lost connection) after which a viewer gives up. */
const MAX_FAILURES = 5;
const RETRY_MS = 200;
/** Longer than any request should take: a blocking reload waits at most 3 target durations. */
const REQUEST_TIMEOUT_MS = 10_000;
/** No viewer outlives this, closed or not. */
const MAX_VIEWER_MS = 3_600_000;

/** Where a viewer is: the last part it has (part Infinity: the whole segment msn). */
interface Position {
  msn: number;
  part: number;
}

const after = (p: { msn: number; part: number }, last: Position) => p.msn > last.msn || (p.msn === last.msn && p.part > last.part);

/** Viewers made so far in this process: each gets a user agent of its own, so the server tells them apart. */
let made = 0;

export class HlsViewer implements PlayConnection {
  /** First request -> the first playlist that lists a segment, ms. */
  firstPlaylistMs = NaN;
  private readonly http: KeepAliveConnection;
  private readonly deadline = performance.now() + MAX_VIEWER_MS;
  /** The init section read last (its URI) and its tracks by id. */
  private map: string | null = null;
  private readonly tracks = new Map<number, { video: boolean; timescale: number }>();
  private closed = false;
  private readonly stopped = Promise.withResolvers<void>();
  private readonly done = Promise.withResolvers<void>();

  private constructor(
    private readonly url: URL,
    private readonly options: HlsViewerOptions,
  ) {
    this.http = new KeepAliveConnection(url.hostname, Number(url.port), `bench-hls-viewer/${++made}`);
  }

  get bytesReceived(): number {
    return this.http.bytesReceived;
  }

  /** Resolves once the server has answered a playlist that lists a segment; the viewer then plays on its own. */
  static async start(url: string, options: HlsViewerOptions): Promise<HlsViewer> {
    const viewer = new HlsViewer(new URL(url), options);
    let playlist: MediaPlaylist;
    try {
      playlist = await viewer.firstPlaylist();
    } catch (err) {
      viewer.http.close();
      throw err;
    }
    void viewer.play(playlist);
    return viewer;
  }

  close(): Promise<void> {
    this.stop();
    return this.done.promise;
  }

  private stop(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.http.close();
    this.stopped.resolve();
    this.options.onClose(err);
  }

  private async firstPlaylist(): Promise<MediaPlaylist> {
    const started = performance.now();
    for (;;) {
      const reply = await this.http.get(this.path(this.url.href), REQUEST_TIMEOUT_MS);
      if (reply.status === 200) {
        const playlist = parseMediaPlaylist(new TextDecoder().decode(reply.body));
        if (playlist.segments.length > 0) {
          this.firstPlaylistMs = performance.now() - started;
          return playlist;
        }
      } else if (reply.status !== 404) {
        throw new Error(`${this.url.pathname}: HTTP ${reply.status}`);
      }
      if (performance.now() - started > this.options.timeoutMs) {
        throw new Error(`${this.url.pathname}: no playlist listing a segment within ${this.options.timeoutMs} ms`);
      }
      await this.pause(RETRY_MS);
    }
  }

  private async play(first: MediaPlaylist): Promise<void> {
    try {
      let playlist = first;
      let last = this.options.lowLatency ? this.livePart(playlist) : { msn: playlist.segments.at(-1)!.msn - 1, part: Infinity };
      while (!this.closed && performance.now() < this.deadline) {
        last = await this.fetchNew(playlist, last);
        playlist = await this.reload(playlist, last);
      }
      this.stop();
    } catch (err) {
      this.stop(this.closed ? undefined : (err as Error));
    } finally {
      this.done.resolve();
    }
  }

  /** Just before the last independent part listed, where a player starts (it needs a keyframe). */
  private livePart(playlist: MediaPlaylist): Position {
    const { parts } = playlist;
    if (parts.length === 0) throw new Error(`${this.url.pathname}: a low-latency playlist without parts`);
    const start = parts.findLastIndex((p) => p.independent);
    const first = parts[Math.max(0, start)];
    return { msn: first.msn, part: first.part - 1 };
  }

  /**
   * Everything the playlist lists after `last`, in order: whole segments where the viewer is behind the parts
   * still listed, then parts (low latency); segments (plain). Returns the new position.
   */
  private async fetchNew(playlist: MediaPlaylist, last: Position): Promise<Position> {
    const firstPart = this.options.lowLatency ? (playlist.parts[0]?.msn ?? Infinity) : Infinity;
    for (const segment of playlist.segments) {
      if (this.closed || segment.msn <= last.msn || segment.msn >= firstPart) continue;
      await this.fetchMedia(segment);
      last = { msn: segment.msn, part: Infinity };
    }
    if (!this.options.lowLatency) return last;
    for (const part of playlist.parts) {
      if (this.closed || !after(part, last)) continue;
      await this.fetchMedia(part);
      last = { msn: part.msn, part: part.part };
    }
    return last;
  }

  /** Low latency: blocks until the part after `last` is listed. Plain: waits half a target duration. */
  private async reload(playlist: MediaPlaylist, last: Position): Promise<MediaPlaylist> {
    let path = this.path(this.url.href);
    if (this.options.lowLatency) {
      const [msn, part] = last.part === Infinity ? [last.msn + 1, 0] : [last.msn, last.part + 1];
      path += `${path.includes("?") ? "&" : "?"}_HLS_msn=${msn}&_HLS_part=${part}`;
    } else {
      await this.pause((playlist.targetDurationS * 1000) / 2);
    }
    return parseMediaPlaylist(new TextDecoder().decode(await this.get(path)));
  }

  private async fetchMedia(media: PlaylistSegment | PlaylistPart): Promise<void> {
    if (media.map !== null && media.map !== this.map) await this.readInit(media.map);
    const bytes = await this.get(this.path(media.uri));
    if (media.map === null) this.readTs(bytes);
    else this.readFragments(bytes);
  }

  private async readInit(uri: string): Promise<void> {
    const { tracks } = readInit(await this.get(this.path(uri)));
    this.tracks.clear();
    for (const t of tracks) this.tracks.set(t.id, { video: t.kind === "video", timescale: t.timescale });
    this.map = uri;
  }

  /** Every sample of a part or segment (one or more moof + mdat), in decode order across the tracks. */
  private readFragments(bytes: Uint8Array): void {
    const now = wallClock();
    const frames: { type: number; ms: number; stamps: Stamps }[] = [];
    const top = boxes(bytes);
    for (let i = 0; i + 1 < top.length; i += 2) {
      const [moof, mdat] = [top[i], top[i + 1]];
      const fragment = bytes.subarray(moof.bytes.byteOffset - bytes.byteOffset, mdat.bytes.byteOffset - bytes.byteOffset + mdat.bytes.length);
      for (const run of readFragment(fragment).runs) {
        const track = this.tracks.get(run.trackId);
        if (track === undefined) throw new Error(`a fragment of track ${run.trackId}, which the init section lacks`);
        let time = run.baseDecodeTime;
        for (const sample of run.samples) {
          const stamps = readSampleStamp(track.video, sample.data, now);
          frames.push({ type: track.video ? MessageType.Video : MessageType.Audio, ms: (time * 1000) / track.timescale, stamps });
          time += sample.duration;
        }
      }
    }
    frames.sort((a, b) => a.ms - b.ms);
    for (const f of frames) this.options.onFrame(f.type, f.ms, f.stamps);
  }

  private readTs(bytes: Uint8Array): void {
    for (const frame of tsFrames(bytes)) this.options.onFrame(frame.video ? MessageType.Video : MessageType.Audio, frame.decodeMs, null);
  }

  /** A 200's body; an error status or a failed request is retried, MAX_FAILURES times in a row at most. */
  private async get(path: string): Promise<Uint8Array> {
    for (let failures = 1; ; failures++) {
      let problem: string;
      try {
        const reply = await this.http.get(path, REQUEST_TIMEOUT_MS);
        if (reply.status === 200) return reply.body;
        problem = `HTTP ${reply.status}`;
      } catch (err) {
        problem = (err as Error).message;
      }
      if (this.closed) throw new Error("closed");
      if (failures === MAX_FAILURES) throw new Error(`${path.split("?")[0]}: ${problem} (${failures} times in a row)`);
      await this.pause(RETRY_MS);
    }
  }

  /** The path and query to ask for `uri`, relative to the playlist's URL. */
  private path(uri: string): string {
    const url = new URL(uri, this.url);
    return `${url.pathname}${url.search}`;
  }

  /** Waits `ms`, or less if the viewer is closed meanwhile. */
  private async pause(ms: number): Promise<void> {
    await Promise.race([Bun.sleep(ms), this.stopped.promise]);
  }
}

/** What a load of HLS viewers measured beyond what every load does. */
export interface HlsFigures {
  /** Median over the viewers of first request -> first playlist that lists a segment, ms. */
  firstPlaylistMs: number;
  /** The server's HLS muxers and the bytes their windows hold, from /metrics at the end of the window (null: none there). */
  muxers: number | null;
  windowBytes: number | null;
}

/** From the viewers of a load, and from the server's /metrics on `httpPort` (rtmp-server's; nginx has none). */
export async function hlsFigures(httpPort: number, viewers: PlayConnection[]): Promise<HlsFigures> {
  const times = viewers.flatMap((v) => (v instanceof HlsViewer ? [v.firstPlaylistMs] : []));
  const figures: HlsFigures = { firstPlaylistMs: median(times), muxers: null, windowBytes: null };
  try {
    const reply = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await reply.text();
    if (reply.ok && text.includes("rtmp_hls_muxers")) {
      figures.muxers = metricValue(text, "rtmp_hls_muxers");
      figures.windowBytes = metricValue(text, "rtmp_hls_window_bytes");
    }
  } catch {
    // No metrics: the figures say null.
  }
  return figures;
}
