/**
 * Workflow 3, scale. An operator's request, or the scaler's own look at lag
 * every tick: lag over the policy's threshold adds `step` slots, up to the
 * plan's maximum (a step that does not fit is cut to what does; at the
 * maximum, `quota_exceeded` once a window). A window after a lag scale-up,
 * lag that has not fallen restores the previous concurrency. Nothing is
 * decided inside a window.
 *
 * The window lives in the governor's durable state: `lastScale` (from the
 * last `governor_scaled`) and `quotaNotedAt` (from the last lag
 * `quota_exceeded`), so a restart neither forgets a window nor judges one twice
 * over: a scale-up is judged in the window that follows its own, and only there.
 */
import type { DraftOf } from "../../src/ledger/receipt.ts";
import type { Decision, ScaleRequest } from "../decision.ts";
import { none } from "../decision.ts";
import type { PolicyView } from "../policy-view.ts";
import { currentPlan, oldestWaitMs, queueDepth, type GovernorState } from "../state.ts";

const MICROS = 1_000_000n;

/** `perSlot` (a decimal USD string) times `slots`, as a decimal string with at least two decimals. */
export function costDelta(perSlot: string, slots: number): string {
  const [whole = "0", frac = ""] = perSlot.split(".");
  const micros = (BigInt(whole) * MICROS + BigInt((frac + "000000").slice(0, 6))) * BigInt(slots);
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const decimals = (abs % MICROS).toString().padStart(6, "0").replace(/0{1,4}$/, "");
  return `${negative ? "-" : ""}${abs / MICROS}.${decimals.padEnd(2, "0")}`;
}

/**
 * A concurrency asked for: within the plan's maximum `governor_scaled`
 * applies it at once, with its cost; over it, `quota_exceeded` and nothing
 * changes.
 */
export function decideScale(state: GovernorState, policy: PolicyView | null, req: ScaleRequest): Decision {
  const plan = currentPlan(state, policy);
  if (plan === undefined || req.concurrency === state.concurrency || req.concurrency < 1) return none();
  if (req.concurrency > plan.maxConcurrency) {
    const draft: DraftOf<"quota_exceeded"> = {
      operation: "quota_exceeded",
      status: "refused",
      duration_ms: 0,
      quota: "max_concurrency",
      requested: req.concurrency,
      limit: plan.maxConcurrency,
      reason: req.reason === "operator" ? "operator" : "lag",
    };
    return { drafts: [draft], effects: [] };
  }
  const draft: DraftOf<"governor_scaled"> = {
    operation: "governor_scaled",
    status: "success",
    duration_ms: 0,
    previous_concurrency: state.concurrency,
    concurrency: req.concurrency,
    cost_delta_usd: costDelta(plan.costPerSlotUsd, req.concurrency - state.concurrency),
    reason: req.reason,
    queue_depth: queueDepth(state),
    oldest_wait_ms: oldestWaitMs(state, req.now),
  };
  return { drafts: [draft], effects: [] };
}

/** The scaler's look at one governor: scale up on lag, revert a scale-up that did not help, or nothing. */
export function decideScaleTick(state: GovernorState, policy: PolicyView | null, now: number): Decision {
  const plan = currentPlan(state, policy);
  if (state.phase !== "active" || policy === null || plan === undefined) return none();
  const sc = policy.scaling;
  const last = state.lastScale;
  if (last !== null && now - last.at < sc.windowMs) return none();
  const depth = queueDepth(state);
  // The window after a lag scale-up's own: did the queue fall below what made it scale?
  if (last !== null && last.reason === "lag" && now - last.at < 2 * sc.windowMs && depth > 0 && depth >= last.queueDepth && last.previous >= 1) {
    return decideScale(state, policy, { concurrency: last.previous, reason: "revert", now });
  }
  if (depth < sc.queueDepthThreshold && oldestWaitMs(state, now) < sc.oldestWaitMsThreshold) return none();
  if (state.concurrency >= plan.maxConcurrency) {
    // At the ceiling: noted once a window, not every tick.
    if (state.quotaNotedAt !== null && now - state.quotaNotedAt < sc.windowMs) return none();
    return decideScale(state, policy, { concurrency: state.concurrency + sc.step, reason: "lag", now });
  }
  return decideScale(state, policy, { concurrency: Math.min(state.concurrency + sc.step, plan.maxConcurrency), reason: "lag", now });
}
