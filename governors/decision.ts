/**
 * What deciders work with: the commands a governor takes, the decisions it
 * makes (receipts to record, then effects to run once they are durable), and
 * the answers a signal's sender gets.
 */
import type { ReceiptDraft, RefusalCode } from "../src/ledger/receipt.ts";
import type { CancelRequest, OpenAction, SignalOutcome } from "./state.ts";
import type { PolicyView } from "./policy-view.ts";

/**
 * Why a signal cannot be taken now (no receipt is written). The governor
 * decides the first five from its lifecycle state; signal intake adds the
 * rest: `quarantined` (the tenant's governor failed and is out of service),
 * `not_durable` (its receipt could not be made durable within the admission
 * deadline; a repeat of the same signal id returns its outcome), and
 * `degraded` while the store is failing (safe mode) or the governor is rebuilt.
 */
export type Unavailable = "not_provisioned" | "suspended" | "degraded" | "decommissioning" | "decommissioned" | "quarantined" | "not_durable";

/** The answer to the sender of a signal. */
export type SignalReply =
  | { readonly kind: "accepted"; readonly actionId: string; readonly state: "running" | "pending" }
  | { readonly kind: "duplicate"; readonly outcome: SignalOutcome }
  | { readonly kind: "refused"; readonly code: RefusalCode; readonly reason: string }
  | { readonly kind: "unavailable"; readonly reason: Unavailable };

/** Effects a governor names; the runtime supplies them and runs them after the receipts before them are durable. */
export type Effect =
  | { readonly type: "runHandler"; readonly action: OpenActionRef; readonly deadline: number }
  | { readonly type: "abortHandler"; readonly actionId: string }
  | { readonly type: "runRollback"; readonly action: OpenActionRef; readonly cause: RollbackCause; readonly deadline: number }
  | { readonly type: "armDeadline"; readonly actionId: string; readonly at: number }
  | { readonly type: "cancelDeadline"; readonly actionId: string }
  | { readonly type: "reply"; readonly signalId: string; readonly reply: SignalReply }
  | { readonly type: "alert"; readonly code: string; readonly message: string; readonly details: Record<string, unknown> }
  | { readonly type: "armDrainDeadline"; readonly at: number }
  | { readonly type: "exportArchive" }
  | { readonly type: "deleteChannel" }
  /** The tenant's concurrency is now this: how much its channel lets through follows it. */
  | { readonly type: "tuneChannel"; readonly concurrency: number };

export type RollbackCause = "timeout" | "error" | "crash" | "drain";

/** What a handler or rollback needs to know of an action. */
export interface OpenActionRef {
  readonly actionId: string;
  readonly signalId: string;
  readonly action: string;
  readonly handler: string;
  readonly params: Record<string, unknown>;
}

export interface Decision {
  readonly drafts: ReceiptDraft[];
  readonly effects: Effect[];
}

/** A decision that records nothing and does nothing. */
export const none = (): Decision => ({ drafts: [], effects: [] });

export function ref(a: OpenAction): OpenActionRef {
  return { actionId: a.actionId, signalId: a.signalId, action: a.action, handler: a.handler, params: a.params };
}
export interface Limits {
  readonly maxParamsBytes: number;
  /**
   * True while no new action may start (safe mode): queued actions stay
   * queued. Read by live reactions only; replay never starts anything.
   */
  readonly held?: () => boolean;
}


export interface SignalCommand {
  readonly signal_id: string;
  readonly action: string;
  readonly params: Record<string, unknown>;
  /** Size of the params as received, in bytes. */
  readonly paramsBytes: number;
  /** The id this action gets if accepted (ids come from outside). */
  readonly actionId: string;
  readonly now: number;
}

export interface ProvisionCommand {
  readonly eventId: string;
  readonly entitlementId: string;
  readonly skuId: string;
  readonly plan: string;
  readonly region?: string;
  readonly policyVersion: string;
  /** The plan's starting concurrency. */
  readonly concurrency: number;
  readonly channel: string;
  readonly durationMs: number;
  /** Google Cloud Marketplace: the entitlement's procurement account and Service Control consumer. */
  readonly procurementAccountId?: string;
  readonly usageReportingId?: string;
}

/** The marketplace suspended the entitlement (or its consumer may not be served), or reinstated it. */
export interface EntitlementStatusCommand {
  readonly eventId: string;
  readonly entitlementId: string;
  readonly reason?: string;
}

export interface ChangePlanCommand {
  readonly eventId: string;
  readonly entitlementId: string;
  readonly plan: string;
  readonly policyVersion: string;
  readonly concurrency: number;
}

export interface ArchivedCommand {
  readonly archiveUri: string;
  readonly archiveBytes: number;
  readonly archiveSha256: string;
  readonly receiptCount: number;
}

/** A request to change a governor's concurrency: from an operator (the scaler decides its own, see SCALE_TICK). */
export interface ScaleRequest {
  readonly concurrency: number;
  readonly reason: "lag" | "operator" | "revert";
  readonly now: number;
}

/** Everything a governor is asked to decide. Each carries `now`: deciders never read a clock. */
export type Command =
  | ({ type: "SIGNAL" } & SignalCommand)
  | ({ type: "PROVISION" } & ProvisionCommand & { now: number })
  | ({ type: "CHANGE_PLAN" } & ChangePlanCommand & { now: number })
  | { type: "POLICY_OFFERED"; policy: PolicyView; forced: boolean; now: number }
  | { type: "HANDLER_SUCCEEDED"; actionId: string; now: number; resultSha256?: string }
  | { type: "HANDLER_FAILED"; actionId: string; now: number; code: string; message: string; recoverable: boolean }
  /** A handler that was not run: the store failed (safe mode) between the start's receipt and the run. */
  | { type: "HANDLER_NOT_RUN"; actionId: string; now: number }
  | { type: "DEADLINE"; actionId: string; now: number }
  | { type: "ROLLBACK_SUCCEEDED"; actionId: string; now: number; cause: RollbackCause }
  | { type: "ROLLBACK_FAILED"; actionId: string; now: number; cause: RollbackCause; error: string }
  /** After a rebuild: resolve what a stopped process left open, start what waits. */
  | { type: "RESUME"; now: number }
  /** Intake resumed after safe mode: start what waits in the queue. */
  | { type: "DRAIN_QUEUE"; now: number }
  | ({ type: "SCALE" } & ScaleRequest)
  /** The scaler's periodic look at lag. */
  | { type: "SCALE_TICK"; now: number }
  | { type: "CANCEL"; eventId: string; entitlementId: string; now: number; drainMs: number }
  | ({ type: "SUSPEND" } & EntitlementStatusCommand & { now: number })
  | ({ type: "REINSTATE" } & EntitlementStatusCommand & { now: number })
  | { type: "DRAIN_EXPIRED"; now: number }
  | ({ type: "ARCHIVED" } & ArchivedCommand & { now: number })
  /** Another runtime appended to this ledger; the governor was rebuilt from the store and is back. */
  | { type: "OUTAGE_RECOVERED"; since: number; refused: number; cause: string; now: number }
  /** A message on the tenant's channel that is not a signal, on its last delivery (before it is dead-lettered). */
  | { type: "UNDELIVERABLE"; messageId: string; reason: string; now: number }
  /** A receipt another service decided that changes no governor state (tokens, entitlement_failed). */
  | { type: "NOTE"; draft: ReceiptDraft; now: number };

/** A decision that also enters the drain (the one state change no receipt makes: see statechart.ts). */
export interface CancelDecision extends Decision {
  readonly drain: CancelRequest;
}
