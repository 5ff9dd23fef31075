/**
 * The hook counters /metrics exports: deliveries per hook kind and outcome, plus the events dropped (queue
 * full, or still queued when shutdown gave up).
 */

export const HOOK_KINDS = ["webhook", "script", "stdio"] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

/** How one delivery ended. A delivery cut off by shutdown counts as a timeout. */
export type HookOutcome = "ok" | "failed" | "timeout";

export type HookCounts = Record<HookOutcome | "dropped", number>;
export type HookStats = Record<HookKind, HookCounts>;

export function emptyHookStats(): HookStats {
  const counts = (): HookCounts => ({ ok: 0, failed: 0, timeout: 0, dropped: 0 });
  return { webhook: counts(), script: counts(), stdio: counts() };
}
