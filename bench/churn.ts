/**
 * Connection churn beside a live stream: connections opened at an even pace, in equal parts and interleaved,
 * each of a kind that leaves early: a player that closes right after sending play, a player that resets its
 * socket on the first video frame, a half handshake (C0+C1, then close), and random bytes, then close.
 */
import { ClientHandshake } from "../src/protocol/handshake.ts";
import { parseRtmpUrl } from "../src/relay/rtmp-client.ts";
import { TestRtmpClient } from "../support/rtmp-test-client.ts";
import { isCodedVideo } from "./audience.ts";

export const CHURN_KINDS = ["leave", "reset", "half-handshake", "garbage"] as const;
export type ChurnKind = (typeof CHURN_KINDS)[number];

export interface ChurnResult {
  /** Per kind, in CHURN_KINDS order: connections that did what they should, and those that failed. */
  ok: number[];
  failed: number[];
}

/** Longest a churn connection may live; with the pace this bounds how many are open at once. */
export const CHURN_DEADLINE_MS = 5_000;
const MAX_GARBAGE_BYTES = 4096;

/** Opens `count` connections evenly over `seconds` against the live stream at `url`; resolves once all ended. */
export async function churn(url: string, count: number, seconds: number, errors: string[]): Promise<ChurnResult> {
  const result: ChurnResult = { ok: CHURN_KINDS.map(() => 0), failed: CHURN_KINDS.map(() => 0) };
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * seconds * 1000) / count;
    if (due > performance.now()) await Bun.sleep(due - performance.now());
    const kind = i % CHURN_KINDS.length;
    pending.push(
      withDeadline(connectOnce(CHURN_KINDS[kind], url)).then(
        () => {
          result.ok[kind]++;
        },
        (err: Error) => {
          result.failed[kind]++;
          if (result.failed[kind] <= 3) errors.push(`churn ${CHURN_KINDS[kind]}: ${err.message}`);
        },
      ),
    );
  }
  await Promise.all(pending);
  return result;
}

function withDeadline(attempt: { done: Promise<void>; abort(): void }): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      attempt.abort();
      reject(new Error(`not done within ${CHURN_DEADLINE_MS} ms`));
    }, CHURN_DEADLINE_MS);
  });
  return Promise.race([attempt.done, expired]).finally(() => clearTimeout(timer));
}

/** One churn connection: `done` settles when it has done its part; `abort` drops it wherever it is. */
function connectOnce(kind: ChurnKind, url: string): { done: Promise<void>; abort(): void } {
  let client: TestRtmpClient | undefined;
  let socket: { terminate(): void } | undefined;
  const abort = () => {
    client?.close();
    socket?.terminate();
  };
  const done = (async () => {
    if (kind === "half-handshake" || kind === "garbage") {
      const bytes = kind === "garbage" ? garbage() : new ClientHandshake().start();
      const s = await tcpConnect(url);
      socket = s;
      const n = s.write(bytes);
      s.end();
      if (n !== bytes.length) throw new Error(`the socket took ${n} of ${bytes.length} bytes`);
      return;
    }
    const name = parseRtmpUrl(url).name;
    let sawFrame = false;
    let gone!: () => void;
    const closed = new Promise<void>((resolve) => (gone = resolve));
    client = await TestRtmpClient.connect(url, {
      timeoutMs: CHURN_DEADLINE_MS,
      onMessage: (m) => {
        if (kind === "reset" && isCodedVideo(m) && !sawFrame) {
          sawFrame = true;
          client?.abort();
        }
      },
      onClose: () => gone(),
    });
    const id = await client.createStream();
    if (kind === "leave") {
      // The play command is queued, then close() sends it before its FIN: a player that leaves at once.
      client.play(id, name).catch(() => undefined);
      await client.close();
      return;
    }
    await client.play(id, name);
    await closed;
    if (!sawFrame) throw new Error("closed before the first video frame");
  })();
  return { done, abort };
}

function garbage(): Uint8Array {
  const bytes = new Uint8Array(1 + Math.floor(Math.random() * MAX_GARBAGE_BYTES));
  return crypto.getRandomValues(bytes);
}

function tcpConnect(url: string): Promise<{ write(b: Uint8Array): number; end(): void; terminate(): void }> {
  const { host, port } = parseRtmpUrl(url);
  return Bun.connect({ hostname: host, port, socket: { data() {} } });
}
