/**
 * Rebuilding a governor from receipts, fast.
 *
 * Sending every receipt through an actor as REPLAYED is the definition; this
 * is the same fold, quicker: a receipt that does not move the lifecycle is,
 * by the machine's own REPLAYED handler, nothing but `evolve`, so it is
 * applied directly, and only lifecycle receipts go through XState's pure
 * `transition()`. A test holds the two equal on recorded ledgers.
 */
import { transition, type SnapshotFrom } from "xstate";
import type { Receipt } from "../src/ledger/receipt.ts";
import { evolve, resolveStatePolicy, type GovernorState } from "./governor-state.ts";
import { lifecycleOps, tenantGovernor, type GovernorContext, type GovernorInput } from "./tenant-governor.ts";

export type GovernorSnapshot = SnapshotFrom<typeof tenantGovernor>;
export type LifecycleState = "new" | "active" | "suspended" | "degraded" | "draining" | "decommissioning" | "decommissioned";

/** A snapshot of the machine at `value` over `state` (e.g. restored from storage). */
export function restoreSnapshot(input: GovernorInput & { state: GovernorState }, value: LifecycleState): GovernorSnapshot {
  const context: GovernorContext = {
    gov: input.state,
    policy: resolveStatePolicy(input.state, input.resolvePolicy),
    resolvePolicy: input.resolvePolicy,
    limits: input.limits,
    cancel: null,
  };
  return tenantGovernor.resolveState({ value, context });
}

/** Applies receipts in order to a snapshot and returns the new one. The state inside is updated in place. */
export function replay(snapshot: GovernorSnapshot, receipts: Iterable<Receipt>): GovernorSnapshot {
  let current = snapshot;
  let policyStale = false;
  for (const receipt of receipts) {
    if (lifecycleOps.has(receipt.operation)) {
      current = transition(tenantGovernor, current, { type: "REPLAYED", receipt })[0];
      policyStale = false;
    } else {
      evolve(current.context.gov, receipt);
      if (receipt.operation === "policy_upgraded" || receipt.operation === "entitlement_plan_changed") policyStale = true;
    }
  }
  if (policyStale || (current.context.policy === null && current.context.gov.policyVersion !== null)) {
    current.context.policy = resolveStatePolicy(current.context.gov, current.context.resolvePolicy);
  }
  return current;
}
