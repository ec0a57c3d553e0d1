/**
 * Workflow 4, safe mode, as a fold over the ledger store's health probes.
 * After `threshold` failed probes in a row Governor enters safe mode
 * (`degraded_mode` on the platform ledger, an alert; intake refused, receipts
 * spooled); the first probe that succeeds asks for the spool to be drained,
 * and once it is, `degraded_mode_cleared` says how long, how many actions
 * were refused and how many receipts were spooled.
 */
import type { DraftOf } from "../../src/ledger/receipt.ts";
import type { Effect } from "../decision.ts";

export interface StoreHealth {
  readonly failures: number;
  /** Epoch ms safe mode began; null while the store is healthy. */
  readonly degradedAt: number | null;
  /** Actions refused since safe mode began. */
  readonly refused: number;
  readonly lastError: string | null;
}

export const healthyStore: StoreHealth = { failures: 0, degradedAt: null, refused: 0, lastError: null };

export interface HealthDecision {
  readonly health: StoreHealth;
  /** What to do: spool receipts from now on (enter), or drain the spool and then decide `decideRecovered` (recover). */
  readonly next: "enter" | "recover" | null;
  readonly drafts: DraftOf<"degraded_mode">[];
  readonly effects: Effect[];
}

/** One probe's result. */
export function decideProbe(h: StoreHealth, probe: { ok: true } | { ok: false; error: string }, threshold: number): HealthDecision {
  if (probe.ok) {
    const health = { ...h, failures: 0, lastError: null };
    return { health, next: h.degradedAt === null ? null : "recover", drafts: [], effects: [] };
  }
  const failures = h.failures + 1;
  if (h.degradedAt !== null || failures < threshold) {
    return { health: { ...h, failures, lastError: probe.error }, next: null, drafts: [], effects: [] };
  }
  return enter({ ...h, failures, lastError: probe.error });
}

function enter(h: StoreHealth): HealthDecision {
  const reason = `${h.failures} health probes in a row failed; last: ${h.lastError ?? "unknown"}`.slice(0, 1024);
  return {
    health: h,
    next: "enter",
    drafts: [{ operation: "degraded_mode", status: "failure", duration_ms: 0, scope: "store", consecutive_failures: h.failures, reason }],
    effects: [{ type: "alert", code: "safe_mode", message: `Governor entered safe mode: ${reason}`, details: { consecutive_failures: h.failures } }],
  };
}

/** Safe mode began at `now` (the health after `enter` is stamped with it). */
export function enteredAt(h: StoreHealth, now: number): StoreHealth {
  return { ...h, degradedAt: now, refused: 0 };
}

/** The spool is drained into the store: safe mode is over. */
export function decideRecovered(h: StoreHealth, spooled: number, now: number): { health: StoreHealth; draft: DraftOf<"degraded_mode_cleared">; effects: Effect[] } {
  const since = h.degradedAt ?? now;
  const downMs = Math.max(0, now - since);
  return {
    health: { ...h, degradedAt: null },
    draft: {
      operation: "degraded_mode_cleared",
      status: "success",
      duration_ms: downMs,
      scope: "store",
      downtime_seconds: Math.round(downMs / 1000),
      actions_refused: h.refused,
      spooled_receipts: spooled,
    },
    effects: [{ type: "alert", code: "safe_mode_cleared", message: "Governor left safe mode: the ledger store answers again", details: { spooled_receipts: spooled } }],
  };
}

/** An action refused while in safe mode (reported in `degraded_mode_cleared`). */
export function countRefusal(h: StoreHealth): StoreHealth {
  return h.degradedAt === null ? h : { ...h, refused: h.refused + 1 };
}
