/**
 * The one in-process event channel: sessions, streams, recorders and relays emit typed events here, and the
 * hooks layer, the logger and the HTTP API subscribe. Emitting is synchronous and cheap (one object, one call
 * per subscriber); a subscriber that does slow work (a webhook, a script) queues it and returns at once.
 */
import type { Logger } from "../logger.ts";

/** go-rtmp's events, all of them, plus recording, relay and cluster pulls. */
export const EVENT_TYPES = [
  "connection_accept",
  "handshake_complete",
  "connection_close",
  "stream_create",
  "stream_delete",
  "publish_start",
  "publish_stop",
  "play_start",
  "play_stop",
  "codec_detected",
  "subscriber_count",
  "auth_failed",
  "record_start",
  "record_stop",
  "relay_start",
  "relay_stop",
  "pull_start",
  "pull_stop",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type EventValue = string | number | boolean | null;

/** What a webhook receives as its body, a script as RTMP_* variables, stdio as one line. */
export interface ServerEvent {
  /** Unique per event and per server run (`<run>-<sequence>`): a receiver drops duplicates by it. */
  readonly id: string;
  readonly type: EventType;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly conn_id?: string;
  readonly stream_key?: string;
  readonly data: Readonly<Record<string, EventValue>>;
}

export type EventListener = (event: ServerEvent) => void;

export interface EventSource {
  connId?: string;
  streamKey?: string;
}

export class EventChannel {
  private readonly listeners: EventListener[] = [];
  constructor(private readonly log?: Logger) {}

  private readonly run = crypto.randomUUID().slice(0, 8);
  private sequence = 0;

  /** Listeners are called in subscription order, synchronously, for every event. Returns an unsubscribe. */
  subscribe(listener: EventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(type: EventType, source: EventSource, data: Record<string, EventValue> = {}): void {
    if (this.listeners.length === 0) return;
    const event: ServerEvent = {
      id: `${this.run}-${++this.sequence}`,
      type,
      timestamp: Math.floor(Date.now() / 1000),
      ...(source.connId === undefined ? {} : { conn_id: source.connId }),
      ...(source.streamKey === undefined ? {} : { stream_key: source.streamKey }),
      data,
    };
    for (const listener of this.listeners) {
      // A listener's bug must not reach the emitter, which is a session or the media path.
      try {
        listener(event);
      } catch (e) {
        this.log?.error("event listener failed", { event: type, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
}
