/**
 * The HLS shape (--shape hls): its loads on every plain rtmp-server target of the plan, with HLS at the
 * benchmark's settings (servers.ts HLS), and on nginx-rtmp's own HLS when the plan has nginx-rtmp:
 * - hls fanout: one stream to N RTMP players, then to N LL-HLS viewers, each load on a fresh server: CPU per
 *   GB side by side, and the LL-HLS viewers' frame-to-viewer latency;
 * - hls muxers: S streams with no player, then with one LL-HLS viewer each (S fresh muxers, started from the
 *   GOP cache): the time to the first playlist, the CPU a muxer costs (the difference), its window's bytes
 *   once full;
 * - hls plain: one stream published by real FFmpeg (nginx-rtmp's HLS needs real H.264) to N plain HLS viewers,
 *   on rtmp-server and nginx-rtmp.
 */
import { RETIRED_SEGMENTS } from "../src/hls/segmenter.ts";
import { testSource } from "../support/test-source.ts";
import { CYCLE_MS } from "./feeds.ts";
import type { LoadRequest } from "./harness.ts";
import { HLS, type RtmpServerTarget, type ServerTarget, nginxHlsTarget, withVariants } from "./servers.ts";
import { type LoadRow, type Plan, rounds, timed } from "./shapes.ts";

/** Default viewers (and RTMP players) of the fan-out and plain loads. */
export const HLS_VIEWERS = 200;
/** Streams of the muxers load: each a fresh muxer with one viewer. */
export const HLS_MUXER_STREAMS = 20;
/**
 * The muxers load lasts at least until a muxer holds all it ever holds (the segments listed, those retired,
 * the open one: a GOP each), so that the window's bytes are the steady figure.
 */
const FULL_WINDOW_S = ((HLS.window + RETIRED_SEGMENTS + 1) * CYCLE_MS) / 1000;

interface HlsLoad {
  shape: LoadRow["shape"];
  targets: ServerTarget[];
  request: LoadRequest;
}

/** A plain target of this checkout or of --compare's (not a variant): the HLS shape makes its own variants. */
const isPlain = (t: ServerTarget): t is RtmpServerTarget => t.kind === "rtmp-server" && t.protocol === "rtmp" && t.outputs.length === 0;

export async function runHlsLoads(plan: Plan, viewers = HLS_VIEWERS): Promise<LoadRow[]> {
  const servers = plan.targets.filter(isPlain).map((t) => {
    const [rtmp, llHls, hls] = withVariants(t, [
      { outputs: [], protocol: "ll-hls" },
      { outputs: [], protocol: "hls" },
    ]);
    return { rtmp, llHls, hls };
  });
  const nginx = plan.targets.some((t) => t.kind === "nginx") ? [nginxHlsTarget()] : [];
  // The latency figures need the synthetic feeds' stamps.
  const stamped = plan.publisher === "real" ? "ffmpeg" : plan.publisher;
  const window = { seconds: plan.seconds, publisher: stamped } as const;
  const muxers = { ...window, seconds: Math.max(plan.seconds, FULL_WINDOW_S), streams: HLS_MUXER_STREAMS };
  const source = await testSource({ size: "1280x720", cbr: "2500k", seconds: 10 });
  const loads: HlsLoad[] = [
    {
      shape: "hls fanout",
      targets: servers.flatMap((s) => [s.rtmp, s.llHls]),
      request: { ...window, streams: 1, playersPerStream: viewers },
    },
    { shape: "hls muxers", targets: servers.map((s) => s.rtmp), request: { ...muxers, playersPerStream: 0 } },
    { shape: "hls muxers", targets: servers.map((s) => s.llHls), request: { ...muxers, playersPerStream: 1 } },
    {
      shape: "hls plain",
      targets: [...servers.map((s) => s.hls), ...nginx],
      request: { seconds: plan.seconds, publisher: "real", source, streams: 1, playersPerStream: viewers },
    },
  ];
  const rows: LoadRow[] = [];
  for (const { shape, targets, request } of loads) {
    for (const { target, cores } of rounds(plan, targets)) {
      const what = `${shape} ${request.streams}x${request.playersPerStream}`;
      rows.push({ shape, run: await timed(what, target, request, cores) });
    }
  }
  return rows;
}
