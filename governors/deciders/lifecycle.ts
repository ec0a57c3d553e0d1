/**
 * The tenant's lifecycle as the marketplace drives it (provision, plan
 * change, cancel: drain, decommission, archive), and a tenant's own outage
 * when another runtime wrote its ledger. Preconditions a marketplace event
 * must meet before it reaches a governor are in provisioning.ts.
 */
import type { DraftOf, ReceiptDraft } from "../../src/ledger/receipt.ts";
import type { ArchivedCommand, CancelDecision, ChangePlanCommand, Decision, EntitlementStatusCommand, ProvisionCommand } from "../decision.ts";
import { none } from "../decision.ts";
import type { PolicyView } from "../policy-view.ts";
import { queued, type GovernorState } from "../state.ts";
import { decideDeadline, failedDraft } from "./outcome.ts";

/** Provisioning (or re-provisioning after a decommission): `entitlement_active`. */
export function decideProvision(cmd: ProvisionCommand): Decision {
  const draft: DraftOf<"entitlement_active"> = {
    operation: "entitlement_active",
    status: "success",
    duration_ms: cmd.durationMs,
    event_id: cmd.eventId,
    entitlement_id: cmd.entitlementId,
    sku_id: cmd.skuId,
    plan: cmd.plan,
    ...(cmd.region === undefined ? {} : { region: cmd.region }),
    policy_version: cmd.policyVersion,
    concurrency: cmd.concurrency,
    channel: cmd.channel,
    ...(cmd.procurementAccountId === undefined ? {} : { procurement_account_id: cmd.procurementAccountId }),
    ...(cmd.usageReportingId === undefined ? {} : { usage_reporting_id: cmd.usageReportingId }),
  };
  return { drafts: [draft], effects: [] };
}

/** The marketplace suspended the entitlement: `entitlement_suspended`; signals are refused until it is reinstated. */
export function decideSuspend(state: GovernorState, cmd: EntitlementStatusCommand): Decision {
  const draft: DraftOf<"entitlement_suspended"> = {
    operation: "entitlement_suspended",
    status: "success",
    duration_ms: 0,
    event_id: cmd.eventId,
    entitlement_id: cmd.entitlementId,
    ...procurementRef(state),
    ...(cmd.reason === undefined ? {} : { reason: cmd.reason.slice(0, 1024) }),
  };
  return { drafts: [draft], effects: [] };
}

/** A suspended entitlement is reinstated: `entitlement_reinstated`, and what waits in the queue may start. */
export function decideReinstate(state: GovernorState, cmd: EntitlementStatusCommand): Decision {
  const draft: DraftOf<"entitlement_reinstated"> = {
    operation: "entitlement_reinstated",
    status: "success",
    duration_ms: 0,
    event_id: cmd.eventId,
    entitlement_id: cmd.entitlementId,
    ...procurementRef(state),
  };
  return { drafts: [draft], effects: [] };
}

function procurementRef(state: GovernorState): { procurement_account_id?: string } {
  const id = state.marketplace.procurementAccountId;
  return id === null ? {} : { procurement_account_id: id };
}

/** A new plan: `entitlement_plan_changed`, with the plan's concurrency. */
export function decideChangePlan(state: GovernorState, cmd: ChangePlanCommand): Decision {
  if (state.plan === null) return none();
  const draft: DraftOf<"entitlement_plan_changed"> = {
    operation: "entitlement_plan_changed",
    status: "success",
    duration_ms: 0,
    event_id: cmd.eventId,
    entitlement_id: cmd.entitlementId,
    previous_plan: state.plan,
    plan: cmd.plan,
    policy_version: cmd.policyVersion,
    concurrency: cmd.concurrency,
  };
  return { drafts: [draft], effects: [] };
}

/**
 * A cancel: intake stops (the drain begins), queued actions will never start
 * (each gets its terminal receipt now), and what runs has until `drainMs` to
 * finish.
 */
export function decideCancel(state: GovernorState, cmd: { eventId: string; entitlementId: string; now: number; drainMs: number }): CancelDecision {
  const drafts: ReceiptDraft[] = [];
  for (const actionId of queued(state)) {
    const a = state.open.get(actionId);
    if (a === undefined || a.state !== "pending") continue;
    drafts.push(failedDraft(a, "cancelled", "the tenant was cancelled before the action started", false, 0));
  }
  return {
    drafts,
    effects: [{ type: "armDrainDeadline", at: cmd.now + cmd.drainMs }],
    drain: { eventId: cmd.eventId, entitlementId: cmd.entitlementId, requestedAt: cmd.now, inFlight: state.busy },
  };
}

/** The drain is over once nothing is open: `decommission_start`. */
export function decideFinishDrain(state: GovernorState, now: number): Decision {
  const c = state.cancel;
  if (state.phase !== "draining" || c === null || state.open.size !== 0) return none();
  const draft: DraftOf<"decommission_start"> = {
    operation: "decommission_start",
    status: "pending",
    duration_ms: Math.max(0, Math.round(now - c.requestedAt)),
    event_id: c.eventId,
    entitlement_id: c.entitlementId,
    in_flight: c.inFlight,
    ...procurementRef(state),
  };
  return { drafts: [draft], effects: [] };
}

/** The drain deadline passed: what still runs is timed out (cause drain) and rolled back. */
export function decideDrainExpired(state: GovernorState, policy: PolicyView | null, now: number): Decision {
  const out = none();
  for (const a of state.open.values()) {
    if (a.state !== "running") continue;
    const d = decideDeadline(state, policy, a.actionId, now, "drain");
    out.drafts.push(...d.drafts);
    out.effects.push(...d.effects);
  }
  return out;
}

/** The ledger's archive is stored: `decommission_complete`. */
export function decideArchived(state: GovernorState, cmd: ArchivedCommand & { now: number }): Decision {
  const c = state.cancel;
  if (c === null) return none();
  const draft: DraftOf<"decommission_complete"> = {
    operation: "decommission_complete",
    status: "success",
    duration_ms: Math.max(0, Math.round(cmd.now - c.requestedAt)),
    event_id: c.eventId,
    entitlement_id: c.entitlementId,
    archive_uri: cmd.archiveUri,
    archive_bytes: cmd.archiveBytes,
    archive_sha256: cmd.archiveSha256,
    receipt_count: cmd.receiptCount,
  };
  return { drafts: [draft], effects: [] };
}

/**
 * The tenant was out of service while its governor was rebuilt (another
 * runtime appended to its ledger): its own ledger says so, why and for how
 * long, once it is back. Only an active tenant records it.
 */
export function decideOutageRecovered(state: GovernorState, outage: { since: number; refused: number; cause: string; now: number }): Decision {
  if (state.phase !== "active") return none();
  const downMs = Math.max(0, outage.now - outage.since);
  const reason = `another runtime appended to this ledger (${outage.cause}); rebuilt from the store`.slice(0, 1024);
  const drafts: ReceiptDraft[] = [
    { operation: "degraded_mode", status: "failure", duration_ms: 0, scope: "tenant", consecutive_failures: 1, reason },
    {
      operation: "degraded_mode_cleared",
      status: "success",
      duration_ms: downMs,
      scope: "tenant",
      downtime_seconds: Math.round(downMs / 1000),
      actions_refused: outage.refused,
      spooled_receipts: 0,
    },
  ];
  return { drafts, effects: [] };
}
