/**
 * Event hooks: each matching event is queued for every webhook and script (and the stdio printer), then
 * delivered in emission order per stream and per connection, at most `concurrency` at once across all hooks,
 * each bounded by `timeoutMs`. The channel listener only enqueues: no hook can slow the emitter.
 */
import type { EventChannel, EventType, ServerEvent } from "../events/events.ts";
import type { Logger } from "../logger.ts";
import { envBlock, eventVariables } from "./event-variables.ts";
import { emptyHookStats, type HookKind, type HookOutcome, type HookStats } from "./hook-stats.ts";
import { OrderedQueue, type Ticket } from "./ordered-queue.ts";
import { runScript } from "./script.ts";
import { displayUrl, postWebhook } from "./webhook.ts";

/** Events waiting per hook; past it new events for that hook are dropped (counted, one warning per burst). */
export const HOOK_QUEUE_LIMIT = 10_000;

export interface HookSettings {
  /** What scripts inherit of the server's environment: the contract's PATH and HOME, nothing else. */
  inherited?: Readonly<Record<string, string>>;
  timeoutMs: number;
  concurrency: number;
  stdio: "off" | "json" | "env";
  secret: string;
  webhooks: { event: EventType | "*"; url: string }[];
  scripts: { event: EventType | "*"; path: string }[];
}

/** A queue of events for one consumer: a webhook, a script, or the stdio printer. */
interface Consumer {
  readonly kind: HookKind;
  readonly log: Logger;
  readonly queue: OrderedQueue<ServerEvent>;
  /** Events dropped since this queue last had room. */
  burst: number;
}

interface Hook extends Consumer {
  readonly event: EventType | "*";
  readonly deliver: (event: ServerEvent, cancel: AbortSignal) => Promise<HookOutcome>;
  running: number;
}

export class HookRunner {
  private readonly hooks: Hook[];
  /** Printing is synchronous: it takes no slot and keeps the emission order exactly. */
  private readonly printer: Consumer | null;
  private readonly print: (event: ServerEvent) => string;
  private readonly counters = emptyHookStats();
  /** Aborts every running delivery when stop() gives up. */
  private readonly cancel = new AbortController();
  private running = 0;
  /** Hooks with no delivery running: each may always take a free slot, so the others keep one free for it. */
  private idleHooks: number;
  /** Round-robin start point, so that one busy hook does not always go first. */
  private cursor = 0;
  private pumpQueued = false;
  private detach: (() => void) | null = null;
  private stopping: Promise<void> | null = null;
  private onIdle: (() => void) | null = null;

  constructor(
    private readonly settings: HookSettings,
    private readonly log: Logger,
    private readonly stdout: (text: string) => void = (text) => void process.stdout.write(text),
  ) {
    const inherited = settings.inherited ?? {};
    this.hooks = [
      ...settings.webhooks.map(({ event, url }) =>
        this.hook("webhook", event, { url: displayUrl(url) }, (e, cancel, log) =>
          postWebhook({ url, secret: settings.secret, timeoutMs: settings.timeoutMs }, e, cancel, log),
        ),
      ),
      ...settings.scripts.map(({ event, path }) =>
        this.hook("script", event, { script: path }, (e, cancel, log) => {
          const env = { ...Object.fromEntries(eventVariables(e)), ...inherited };
          return runScript({ path, env, timeoutMs: settings.timeoutMs }, cancel, log);
        }),
      ),
    ];
    this.idleHooks = this.hooks.length;
    this.print = settings.stdio === "env" ? envBlock : (event) => JSON.stringify(event) + "\n";
    this.printer = settings.stdio === "off" ? null : this.consumer("stdio", { stdio: settings.stdio });
  }

  /** Subscribes to the channel; every matching event is queued for each hook. */
  attach(channel: EventChannel): void {
    // With nothing configured, stay off the channel: emit() then costs nothing at all.
    if (this.hooks.length === 0 && this.printer === null) return;
    this.detach = channel.subscribe((event) => this.accept(event));
  }

  /**
   * Graceful shutdown: stop taking events, deliver what is queued until `deadlineMs` (a performance.now()
   * time), then abort running webhooks, kill running scripts' process groups and drop what never started.
   */
  stop(deadlineMs: number): Promise<void> {
    this.stopping ??= this.shutdown(deadlineMs);
    return this.stopping;
  }

  /** Counters for /metrics: per hook kind (webhook|script|stdio) and outcome (ok|failed|timeout|dropped). */
  stats(): HookStats {
    return structuredClone(this.counters);
  }

  private hook(
    kind: HookKind,
    event: EventType | "*",
    fields: Record<string, string>,
    deliver: (event: ServerEvent, cancel: AbortSignal, log: Logger) => Promise<HookOutcome>,
  ): Hook {
    const consumer = this.consumer(kind, fields);
    const deliverOne = (e: ServerEvent, cancel: AbortSignal) => deliver(e, cancel, consumer.log.child(eventFields(e)));
    return { ...consumer, event, deliver: deliverOne, running: 0 };
  }

  private consumer(kind: HookKind, fields: Record<string, string>): Consumer {
    return { kind, log: this.log.child({ hook: kind, ...fields }), queue: new OrderedQueue(HOOK_QUEUE_LIMIT), burst: 0 };
  }

  private accept(event: ServerEvent): void {
    if (this.stopping !== null) return;
    if (this.printer !== null) this.enqueue(this.printer, event, NO_KEYS);
    const keys = orderKeys(event);
    for (const hook of this.hooks) {
      if (hook.event === "*" || hook.event === event.type) this.enqueue(hook, event, keys);
    }
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(() => this.pump());
    }
  }

  private enqueue(hook: Consumer, event: ServerEvent, keys: readonly string[]): void {
    if (!hook.queue.push(event, keys)) {
      if (hook.burst++ === 0) hook.log.warn("hook queue full: dropping events", { limit: HOOK_QUEUE_LIMIT });
      this.counters[hook.kind].dropped++;
      return;
    }
    if (hook.burst > 0) {
      hook.log.warn("hook queue has room again", { dropped: hook.burst });
      hook.burst = 0;
    }
  }

  private pump(): void {
    this.pumpQueued = false;
    if (this.printer !== null) this.printAll(this.printer);
    for (let hook = this.nextHook(); hook !== undefined; hook = this.nextHook()) {
      this.start(hook, hook.queue.take()!);
    }
    if (this.running === 0 && this.onIdle !== null && this.hooks.every((h) => h.queue.waiting === 0)) this.onIdle();
  }

  /** The next hook (round-robin) with a ready event that may take a free slot now. */
  private nextHook(): Hook | undefined {
    const free = this.settings.concurrency - this.running;
    if (free <= 0) return undefined;
    for (let i = 0; i < this.hooks.length; i++) {
      const hook = this.hooks[(this.cursor + i) % this.hooks.length];
      if (!hook.queue.hasReady()) continue;
      // A second slot only if every idle hook still finds one: a hanging receiver cannot take them all.
      if (hook.running > 0 && free - 1 < this.idleHooks) continue;
      this.cursor = (this.cursor + i + 1) % this.hooks.length;
      return hook;
    }
    return undefined;
  }

  private start(hook: Hook, ticket: Ticket<ServerEvent>): void {
    if (hook.running++ === 0) this.idleHooks--;
    this.running++;
    hook
      .deliver(ticket.item, this.cancel.signal)
      .catch((e: unknown) => {
        hook.log.error("hook delivery failed", { error: e instanceof Error ? e.message : String(e) });
        return "failed" as const;
      })
      .then((outcome) => {
        this.counters[hook.kind][outcome]++;
        hook.queue.done(ticket);
        if (--hook.running === 0) this.idleHooks++;
        this.running--;
        this.pump();
      });
  }

  private printAll(printer: Consumer): void {
    for (let ticket = printer.queue.take(); ticket !== undefined; ticket = printer.queue.take()) {
      try {
        this.stdout(this.print(ticket.item));
        this.counters.stdio.ok++;
      } catch (e) {
        this.counters.stdio.failed++;
        printer.log.error("printing an event failed", { error: e instanceof Error ? e.message : String(e) });
      }
      printer.queue.done(ticket);
    }
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.detach?.();
    if (await this.idleBefore(deadlineMs)) return;
    let dropped = 0;
    for (const hook of this.hooks) {
      const forgotten = hook.queue.clear();
      this.counters[hook.kind].dropped += forgotten;
      dropped += forgotten;
    }
    this.log.warn("hooks cut off at the shutdown deadline", { running: this.running, dropped });
    this.cancel.abort();
    await this.idleBefore(Infinity);
  }

  /** Resolves true once nothing is queued or running, or false at `deadlineMs` (performance.now() time). */
  private idleBefore(deadlineMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (idle: boolean) => {
        clearTimeout(timer);
        this.onIdle = null;
        resolve(idle);
      };
      const wait = Math.max(0, deadlineMs - performance.now());
      const timer = deadlineMs === Infinity ? undefined : setTimeout(() => finish(false), wait);
      this.onIdle = () => finish(true);
      this.pump();
    });
  }
}

const NO_KEYS: readonly string[] = [];

/** Events of one stream, and events of one connection, are delivered in emission order. */
function orderKeys(event: ServerEvent): string[] {
  const keys: string[] = [];
  if (event.stream_key !== undefined) keys.push(`stream:${event.stream_key}`);
  if (event.conn_id !== undefined) keys.push(`conn:${event.conn_id}`);
  return keys;
}

function eventFields(event: ServerEvent): Record<string, string> {
  return {
    event: event.type,
    event_id: event.id,
    ...(event.conn_id === undefined ? {} : { conn_id: event.conn_id }),
    ...(event.stream_key === undefined ? {} : { stream_key: event.stream_key }),
  };
}
