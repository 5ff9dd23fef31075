/**
 * The publishers of an end-to-end load. Synthetic feeds loop the fixture stream in real time with every media
 * payload stamped with its send time and a sequence number (so latency and loss are exact), written piece by
 * piece like FFmpeg (PiecewisePublisher) or coalesced per 10 ms tick (RtmpClient). Real feeds are
 * `ffmpeg -re -stream_loop -1 ... -c copy` processes; their messages carry no stamps.
 */
import type { RtmpMessage } from "../src/protocol/message.ts";
import { RtmpClient, parseRtmpUrl } from "../src/relay/rtmp-client.ts";
import { TestRtmpClient } from "../support/rtmp-test-client.ts";
import { type Child, Children } from "../support/children.ts";
import { JOIN_TIMEOUT_MS, isCodedVideo } from "./audience.ts";
import { PiecewisePublisher } from "./piecewise-publisher.ts";
import { processCpuSeconds } from "./proc-stats.ts";
import { stamp } from "./stamps.ts";
import { streamPreamble, syntheticStream } from "./stream-fixture.ts";

export type PublisherKind = "ffmpeg" | "coalesced" | "real";

/** The synthetic stream is a 2 s cycle (one GOP) repeated, so any run length needs no more memory. */
export const CYCLE_MS = 2000;
/**
 * FFmpeg with -re writes each message when it is due, so the FFmpeg-like feeds are paced to the millisecond;
 * the coalesced publisher sends what is due every 10 ms in one write.
 */
const TICK_MS: Record<PublisherKind, number> = { ffmpeg: 1, coalesced: 10, real: 10 };
const LIVE_DEADLINE_MS = 20_000;
const CLOSE_GRACE_MS = 2_000;

export interface Feed {
  readonly name: string;
  /** The next sequence number, i.e. how many media messages went out; NaN for real FFmpeg. */
  readonly sequence: number;
  /** CPU seconds of the publishing process when it is not this one (real FFmpeg), else 0. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** One synthetic publisher's place in the looped stream. */
class SyntheticFeed implements Feed {
  sequence = 0;
  private index = 0;
  private cycleStart = 0;
  private readonly startedAt = performance.now();

  constructor(
    readonly name: string,
    private readonly cycle: RtmpMessage[],
    private readonly send: (m: RtmpMessage) => void,
    readonly close: () => Promise<void>,
  ) {}

  /** Sends every message due by now (a late tick sends what it missed, as `ffmpeg -re` catches up). */
  tick(): void {
    const elapsed = performance.now() - this.startedAt;
    while (this.cycleStart + this.cycle[this.index].timestamp <= elapsed) {
      const m = this.cycle[this.index];
      stamp(m.payload, this.sequence++);
      // Both writers copy the payload into chunk bytes at once, so the shared cycle can be stamped again.
      this.send({ ...m, timestamp: this.cycleStart + m.timestamp });
      if (++this.index === this.cycle.length) {
        this.index = 0;
        this.cycleStart += CYCLE_MS;
      }
    }
  }

  cpuSeconds(): number {
    return 0;
  }
}

class FfmpegProcessFeed implements Feed {
  readonly sequence = NaN;

  constructor(
    readonly name: string,
    private readonly child: Child,
  ) {}

  cpuSeconds(): number {
    return this.child.running ? processCpuSeconds(this.child.pid) : 0;
  }

  async close(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.child.exited;
  }
}

/** Everything one load publishes; synthetic feeds share one 10 ms pacer. */
export class Feeds {
  readonly all: Feed[] = [];
  private readonly synthetic: SyntheticFeed[] = [];
  private readonly cycle = syntheticStream(CYCLE_MS / 1000);
  private readonly children = new Children();
  private readonly pacer: ReturnType<typeof setInterval>;

  /** `source`: the FLV file real FFmpeg publishers loop. */
  constructor(
    private readonly kind: PublisherKind,
    private readonly errors: string[],
    private readonly source?: string,
  ) {
    this.pacer = setInterval(() => {
      for (const feed of this.synthetic) feed.tick();
    }, TICK_MS[kind]);
  }

  /** Starts publishing `name` at `url`; resolves once players can play it. */
  async open(url: string, name: string): Promise<Feed> {
    const onClose = (err?: Error) => err && this.errors.push(`publisher ${name}: ${err.message}`);
    let feed: Feed;
    if (this.kind === "real") {
      feed = await this.spawnFfmpeg(url, name);
    } else if (this.kind === "ffmpeg") {
      const publisher = await PiecewisePublisher.publish(url, { timeoutMs: JOIN_TIMEOUT_MS, onClose });
      feed = this.addSynthetic(name, publisher.streamId, (m) => publisher.send(m), async () => publisher.close());
    } else {
      const client = await RtmpClient.connect(url, { timeoutMs: JOIN_TIMEOUT_MS, onClose });
      const streamId = await client.createStream();
      await client.publish(streamId, name);
      feed = this.addSynthetic(name, streamId, (m) => client.send(m), () => client.close());
    }
    this.all.push(feed);
    // Its first keyframe may wait on Nagle a while; an HLS muxer started before it has one waits a whole GOP.
    if (this.kind !== "real") await waitUntilLive(url, { running: true, describe: () => `synthetic publisher of ${name}` });
    return feed;
  }

  /** Total CPU seconds of publisher processes other than this one. */
  cpuSeconds(): number {
    return this.all.reduce((sum, feed) => sum + feed.cpuSeconds(), 0);
  }

  async close(): Promise<void> {
    clearInterval(this.pacer);
    await Promise.all(this.all.map((feed) => Promise.race([feed.close(), Bun.sleep(CLOSE_GRACE_MS)])));
    await this.children.killAll();
  }

  private addSynthetic(
    name: string,
    streamId: number,
    send: (m: RtmpMessage) => void,
    close: () => Promise<void>,
  ): Feed {
    for (const m of streamPreamble(streamId)) send(m);
    const feed = new SyntheticFeed(name, this.cycle, (m) => send({ ...m, streamId }), close);
    this.synthetic.push(feed);
    return feed;
  }

  private async spawnFfmpeg(url: string, name: string): Promise<Feed> {
    if (this.source === undefined) throw new Error("real FFmpeg publishers need a source file");
    const child = this.children.spawn(`ffmpeg ${name}`, [
      "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
      "-re", "-stream_loop", "-1", "-i", this.source,
      "-c", "copy", "-f", "flv", url,
    ]);
    void child.exited.then((code) => {
      if (code !== 0 && code !== 137) this.errors.push(`ffmpeg ${name} exited with ${code}: ${child.stderr.trim()}`);
    });
    await waitUntilLive(url, child);
    return new FfmpegProcessFeed(name, child);
  }
}

/**
 * Plays `url` until the first coded video frame arrives, the way a player would see that a stream is live,
 * trying again while its publisher runs: dozens of FFmpeg processes starting at once share the clients' core,
 * so a probe can be slow enough for the server to drop it.
 */
async function waitUntilLive(url: string, child: Pick<Child, "running" | "describe">): Promise<void> {
  const deadline = performance.now() + LIVE_DEADLINE_MS;
  let last = "";
  while (child.running && performance.now() < deadline) {
    let live = false;
    let gone = false;
    let probe: TestRtmpClient | undefined;
    try {
      probe = await TestRtmpClient.connect(url, {
        timeoutMs: JOIN_TIMEOUT_MS,
        onMessage: (m) => (live ||= isCodedVideo(m)),
        onClose: () => (gone = true),
      });
      await probe.play(await probe.createStream(), parseRtmpUrl(url).name);
      while (!live && !gone && child.running && performance.now() < deadline) await Bun.sleep(20);
      if (live) return;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      await probe?.close();
    }
    await Bun.sleep(100);
  }
  throw new Error(`${url}: no video within ${LIVE_DEADLINE_MS} ms${last && ` (${last})`}\n${child.describe()}`);
}
