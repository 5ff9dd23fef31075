/**
 * The token map of auth.mode file, kept in step with its file: re-read when the file is rewritten in place,
 * replaced by a rename (editors, `mv tmp tokens.json`) or swapped behind a symlink (Kubernetes ConfigMaps),
 * and on reload(). A file broken at run time leaves the last good map in force; why is logged once per change.
 */
import { type FSWatcher, statSync, watch } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../logger.ts";
import type { TokenSource } from "./token-auth.ts";
import { parseTokenFile, readTokenFileText } from "./token-file.ts";

/** Changes come as bursts of events (write, rename, chmod): one re-read this long after the first. */
export const TOKEN_FILE_DEBOUNCE_MS = 100;
/**
 * The safety net behind fs.watch: a stat this often. Measured here, fs.watch on the directory saw every
 * in-place write, rename and symlink swap, but nothing once the directory itself was replaced.
 */
export const TOKEN_FILE_POLL_MS = 2_000;
/** A file changed this recently may change again within the same timestamp: the next poll re-reads it. */
const RACY_MS = 1_000;

export interface TokenFileWatcherOptions {
  debounceMs?: number;
  pollMs?: number;
}

/** A file's identity and version as stat sees them through symlinks; "missing" when stat fails. */
interface Stamp {
  id: string;
  changedAtMs: number;
}

export class TokenFileWatcher implements TokenSource {
  private map: ReadonlyMap<string, string>;
  /** What the last read saw (see Outcome): each change is acted on and logged once. */
  private seen: string;
  private stamp: Stamp;
  private dirStamp: Stamp;
  private watcher: FSWatcher | null = null;
  private debounce: Timer | null = null;
  private readonly poll: Timer;
  private readonly debounceMs: number;

  /** Reads the file (throwing like readTokenFile when it is unusable) and starts following it. */
  constructor(
    readonly path: string,
    private readonly log: Logger,
    options: TokenFileWatcherOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? TOKEN_FILE_DEBOUNCE_MS;
    this.stamp = stampOf(path);
    const text = readTokenFileText(path);
    this.map = toMap(parseTokenFile(path, text));
    this.seen = `read:${text}`;
    this.dirStamp = this.watchDirectory();
    this.poll = setInterval(() => this.onPoll(), options.pollMs ?? TOKEN_FILE_POLL_MS);
    this.poll.unref();
  }

  tokens(): ReadonlyMap<string, string> {
    return this.map;
  }

  reload(): void {
    this.read(true);
  }

  close(): void {
    clearInterval(this.poll);
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = null;
    this.watcher?.close();
    this.watcher = null;
  }

  /**
   * Watches the directory, not the file: a rename over the file or a symlink swap leaves a watch on the file
   * itself on the old inode. Every event in it costs one debounced read.
   */
  private watchDirectory(): Stamp {
    const dir = dirname(this.path);
    try {
      const watcher = watch(dir, { persistent: false }, () => this.onEvent());
      // Only the current watch may stop watching: a replaced one's late error says nothing about it.
      watcher.on("error", (error) => this.watcher === watcher && this.stopWatching(error));
      this.watcher = watcher;
    } catch (error) {
      this.stopWatching(error);
    }
    return stampOf(dir);
  }

  private stopWatching(error: unknown): void {
    this.watcher?.close();
    this.watcher = null;
    this.log.warn("auth token file: cannot watch its directory, relying on the periodic check", {
      file: this.path,
      error: messageOf(error),
    });
  }

  private onEvent(): void {
    if (this.debounce !== null) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.read(false);
    }, this.debounceMs);
    this.debounce.unref();
  }

  private onPoll(): void {
    const dirStamp = stampOf(dirname(this.path));
    if (dirStamp.id !== this.dirStamp.id) {
      // The directory was replaced: the old watch sees nothing of the new one.
      this.watcher?.close();
      this.dirStamp = this.watchDirectory();
    }
    const stamp = stampOf(this.path);
    if (stamp.id !== this.stamp.id || isRecent(this.stamp)) this.read(false);
  }

  /** Re-reads the file; `forced` (reload) acts and logs even when nothing changed. */
  private read(forced: boolean): void {
    // Stat before reading: a write landing after the read then shows as a new stamp at the next poll.
    this.stamp = stampOf(this.path);
    const outcome = readOutcome(this.path);
    if (outcome.seen === this.seen && !forced) return;
    this.seen = outcome.seen;
    if ("error" in outcome) {
      const fields = { file: this.path, error: outcome.error };
      this.log.error("auth token file unusable, keeping the previous tokens", fields);
      return;
    }
    this.map = toMap(outcome.tokens);
    this.log.info("auth token file reloaded", { file: this.path, streams: this.map.size });
  }
}

/** One read: what was seen ("read:" + text or "fail:" + why, to tell a change), then the tokens or why not. */
type Outcome = { seen: string } & ({ tokens: Record<string, string> } | { error: string });

function readOutcome(path: string): Outcome {
  let text: string;
  try {
    text = readTokenFileText(path);
  } catch (error) {
    return { seen: `fail:${messageOf(error)}`, error: messageOf(error) };
  }
  try {
    return { seen: `read:${text}`, tokens: parseTokenFile(path, text) };
  } catch (error) {
    return { seen: `read:${text}`, error: messageOf(error) };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toMap(tokens: Record<string, string>): ReadonlyMap<string, string> {
  return new Map(Object.entries(tokens));
}

function stampOf(path: string): Stamp {
  try {
    const s = statSync(path);
    return { id: `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`, changedAtMs: Math.max(s.mtimeMs, s.ctimeMs) };
  } catch {
    return { id: "missing", changedAtMs: 0 };
  }
}

function isRecent(stamp: Stamp): boolean {
  return Date.now() - stamp.changedAtMs < RACY_MS;
}
