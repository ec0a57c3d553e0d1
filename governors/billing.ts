/**
 * Where a tenant's usage billing stands, as a fold over its receipts: when
 * billing started (`entitlement_active` with a `usage_reporting_id`), where
 * the last closed window ended, and the report written `pending` and not yet
 * accepted (the outbox). The usage reporter (src/app/usage-reporter.ts) reads
 * it to know which window comes next and what to send again.
 */
import type { Receipt, ReceiptOf } from "../src/ledger/receipt.ts";

/** The fields of a `usage_reported` receipt that name its window: sent again as they are. */
export type UsageWindowFields = Pick<
  ReceiptOf<"usage_reported">,
  "entitlement_id" | "usage_reporting_id" | "operation_id" | "start_time" | "end_time" | "from_seq" | "to_seq" | "metrics"
>;

export interface BillingState {
  /** Service Control's consumer id; null: this tenant is not billed through Service Control. */
  readonly usageReportingId: string | null;
  readonly entitlementId: string | null;
  /** The `entitlement_active` receipt billing started at: the first window starts there. */
  readonly since: { readonly time: string; readonly seq: number } | null;
  /** The last window closed (accepted, or refused by the check): the next starts at its end. `hash`: of the receipt that closed it. */
  readonly reported: { readonly endTime: string; readonly toSeq: number; readonly hash?: string } | null;
  /** A window written `pending` whose `success` is not yet written: sent again as it is. */
  readonly pending: UsageWindowFields | null;
}

/** Not billed. */
export const initialBilling: BillingState = { usageReportingId: null, entitlementId: null, since: null, reported: null, pending: null };

/** True once billing has started. */
export function billingStarted(b: BillingState): b is BillingState & { usageReportingId: string; entitlementId: string; since: { time: string; seq: number } } {
  return b.usageReportingId !== null && b.entitlementId !== null && b.since !== null;
}

/**
 * Where the next window starts: the end of the last one closed, or the
 * `entitlement_active` receipt (its timestamp, its seq). Null before billing.
 */
export function nextWindowStart(b: BillingState): { time: string; fromSeq: number } | null {
  if (b.since === null) return null;
  if (b.reported === null) return { time: b.since.time, fromSeq: b.since.seq };
  return { time: b.reported.endTime, fromSeq: b.reported.toSeq + 1 };
}

function windowOf(r: ReceiptOf<"usage_reported">): UsageWindowFields {
  return {
    entitlement_id: r.entitlement_id,
    usage_reporting_id: r.usage_reporting_id,
    operation_id: r.operation_id,
    start_time: r.start_time,
    end_time: r.end_time,
    from_seq: r.from_seq,
    to_seq: r.to_seq,
    metrics: r.metrics,
  };
}

/** Applies one receipt to the billing state (a new value; `b` is not changed). */
export function evolveBilling(b: BillingState, r: Receipt): BillingState {
  switch (r.operation) {
    case "entitlement_active":
      // A repeated activation of the same entitlement (a reconciliation) does not restart the windows.
      if (r.usage_reporting_id === undefined || (b.entitlementId === r.entitlement_id && b.usageReportingId === r.usage_reporting_id && b.since !== null)) return b;
      return { usageReportingId: r.usage_reporting_id, entitlementId: r.entitlement_id, since: { time: r.timestamp, seq: r.seq }, reported: null, pending: null };
    case "usage_reported":
      if (r.status === "pending") return { ...b, pending: windowOf(r) };
      if (r.status === "success" || r.status === "failure") {
        const pending = b.pending !== null && b.pending.operation_id === r.operation_id ? null : b.pending;
        return { ...b, reported: { endTime: r.end_time, toSeq: r.to_seq, hash: r.hash }, pending };
      }
      return b;
    default:
      return b;
  }
}
