/**
 * A new policy version offered to a governor: it adopts it in one step, or
 * keeps the one it has and says why (the change would strand state that
 * exists).
 */
import type { DraftOf } from "../../src/ledger/receipt.ts";
import type { Decision } from "../decision.ts";
import { none } from "../decision.ts";
import type { PolicyView } from "../policy-view.ts";
import type { GovernorState } from "../state.ts";
import { monthOf } from "../timestamps.ts";

/** Actions started in `month` (see `monthOf`): the count the monthly quota is held to. */
export function usedThisMonth(state: GovernorState, month: string): number {
  return state.usageMonth === month ? state.usageCount : 0;
}

/**
 * Why a policy cannot be adopted by this governor as it stands now; empty
 * when it can. A change is incompatible when it would strand state that
 * exists: the tenant's plan removed, an action with actions in flight
 * removed, or the monthly quota lowered below what the tenant already used.
 */
export function policyConflicts(state: GovernorState, next: PolicyView, now: number): string[] {
  const reasons: string[] = [];
  if (state.plan !== null && !next.plans.has(state.plan)) reasons.push(`plan "${state.plan}" is removed while this tenant is on it`);
  const plan = state.plan === null ? undefined : next.plans.get(state.plan);
  const inFlight = new Set<string>();
  for (const a of state.open.values()) inFlight.add(a.action);
  for (const action of inFlight) {
    if (!next.actions.has(action)) reasons.push(`action "${action}" is removed while it has actions in flight`);
  }
  const used = usedThisMonth(state, monthOf(now));
  if (plan !== undefined && used > plan.monthlyActions) {
    reasons.push(`plan "${plan.name}": monthly_actions ${plan.monthlyActions} is below the ${used} actions already used in ${state.usageMonth}`);
  }
  return reasons;
}

/** A new policy version offered to this governor: adopt it atomically, or keep the current one and say why. */
export function decidePolicyOffer(state: GovernorState, next: PolicyView, forced: boolean, now: number): Decision {
  if (state.skuId !== next.skuId || state.policyVersion === next.version) return none();
  const previous = state.policyVersion ?? "none";
  const reasons = policyConflicts(state, next, now);
  if (reasons.length > 0 && !forced) {
    const draft: DraftOf<"policy_rollback"> = {
      operation: "policy_rollback",
      status: "refused",
      duration_ms: 0,
      sku_id: next.skuId,
      policy_version: previous,
      attempted_version: next.version,
      reason: reasons.join("; ").slice(0, 1024),
    };
    return { drafts: [draft], effects: [] };
  }
  const draft: DraftOf<"policy_upgraded"> = {
    operation: "policy_upgraded",
    status: "success",
    duration_ms: 0,
    sku_id: next.skuId,
    previous_version: previous,
    policy_version: next.version,
    forced,
  };
  return { drafts: [draft], effects: [] };
}

