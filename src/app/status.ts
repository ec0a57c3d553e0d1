/** What an operator may see of a governor: no business data. */
import { oldestWaitMs, queueDepth, type GovernorState } from "../../governors/state.ts";
import type { Phase } from "../../governors/statechart.ts";
import type { QuarantineCode } from "./quarantine.ts";

export type LifecycleState = Phase;

export interface GovernorStatus {
  readonly account: string;
  /** The lifecycle state, or `quarantined` while the tenant is out of service (see `quarantine`). */
  readonly state: LifecycleState | "quarantined";
  /** Set while the tenant is quarantined: why and since when (no business data). */
  readonly quarantine?: { readonly code: QuarantineCode; readonly since: string };
  readonly sku_id: string | null;
  readonly plan: string | null;
  readonly policy_version: string | null;
  readonly concurrency: number;
  readonly in_flight: number;
  readonly queue_depth: number;
  readonly oldest_wait_ms: number;
  readonly last_success_at: string | null;
  readonly ledger_size: number;
  /** Google Cloud Marketplace: the customer asked to cancel; service continues until the entitlement is cancelled. */
  readonly pending_cancellation?: boolean;
  /** Google Cloud Marketplace: the procurement account of the tenant's entitlement. */
  readonly procurement_account_id?: string;
  /** Google Cloud Marketplace: a private offer accepted for a future start (the tenant is provisioned then), and its event. */
  readonly scheduled_offer?: { readonly starts_at: string; readonly event_id: string };
}

export function statusOf(gov: GovernorState, now: number, ledgerSize: number): GovernorStatus {
  return {
    account: gov.account,
    state: gov.phase,
    sku_id: gov.skuId,
    plan: gov.plan,
    policy_version: gov.policyVersion,
    concurrency: gov.concurrency,
    in_flight: gov.busy,
    queue_depth: queueDepth(gov),
    oldest_wait_ms: oldestWaitMs(gov, now),
    last_success_at: gov.lastSuccessAt,
    ledger_size: ledgerSize,
    ...(gov.marketplace.pendingCancellation ? { pending_cancellation: true } : {}),
    ...(gov.marketplace.procurementAccountId === null ? {} : { procurement_account_id: gov.marketplace.procurementAccountId }),
    ...(gov.marketplace.offer === null ? {} : { scheduled_offer: { starts_at: new Date(gov.marketplace.offer.startsAt).toISOString(), event_id: gov.marketplace.offer.eventId } }),
  };
}

/** The status of a tenant that never came up. */
export function emptyStatus(account: string): GovernorStatus {
  return { account, state: "new", sku_id: null, plan: null, policy_version: null, concurrency: 0, in_flight: 0, queue_depth: 0, oldest_wait_ms: 0, last_success_at: null, ledger_size: 0 };
}
