/**
 * The receipt: one JSON object per decision, the unit of the ledger.
 *
 * This file is the auditors' contract in code. `receipts/SPEC.md` describes
 * the same format in prose and `receipts/schema/` holds the JSON Schemas
 * generated from these zod schemas (a test keeps them in sync).
 */
import { z } from "zod";

/** Receipt format version carried in every receipt as `v`. */
export const RECEIPT_VERSION = 1;

/** The id of the ledger that records receipts belonging to no single tenant. */
export const PLATFORM_LEDGER = "_platform";

/** A ledger id: an account id, or `_platform`. */
export type LedgerId = string & { readonly __brand: "LedgerId" };
/** A tenant's account id (the marketplace's). */
export type AccountId = string & { readonly __brand: "AccountId" };

/** Account ids: what the marketplace sends, restricted to what is safe in paths, topic names and document ids. */
export const accountIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const Status = {
  success: "success",
  failure: "failure",
  refused: "refused",
  pending: "pending",
} as const;
export type Status = (typeof Status)[keyof typeof Status];

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex characters");
const uuidV7 = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "expected a lowercase UUIDv7");
/** `YYYY-MM-DDTHH:MM:SS.sssZ`, exactly. */
export const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const timestamp = z.string().regex(timestampPattern, "expected UTC YYYY-MM-DDTHH:MM:SS.sssZ");
/** Money and other non-integers are decimal strings. */
const decimal = z.string().regex(/^-?\d+(\.\d+)?$/, "expected a decimal string such as \"0.50\"");
const nonNegInt = z.number().int().nonnegative();
const identifier = z.string().min(1).max(256);
/** A tenant token's public id: `tk_` and 16 base64url characters. */
export const tenantTokenIdPattern = /^tk_[A-Za-z0-9_-]{16}$/;
const tenantTokenId = z.string().regex(tenantTokenIdPattern, "expected a tenant token id: tk_ and 16 letters, digits, '_' or '-'");
const ledgerId = z.string().regex(/^(_platform|[A-Za-z0-9][A-Za-z0-9._-]{0,127})$/, "expected an account id or _platform");

/** Fields every receipt carries. */
export const envelopeShape = {
  v: z.literal(RECEIPT_VERSION),
  receipt_id: uuidV7,
  ledger: ledgerId,
  seq: nonNegInt,
  timestamp,
  status: z.enum(["success", "failure", "refused", "pending"]),
  duration_ms: nonNegInt,
  account_id: ledgerId.optional(),
  prev_hash: hex64,
  hash: hex64,
};

/** Why an action or signal was refused. Literal codes, stable across versions. */
export const RefusalCode = {
  notPermitted: "not_permitted",
  unknownAction: "unknown_action",
  invalidParams: "invalid_params",
  paramsTooLarge: "params_too_large",
  quotaExhausted: "quota_exhausted",
  degraded: "degraded",
  notActive: "not_active",
  duplicateSignal: "duplicate_signal",
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

const actionRef = {
  signal_id: identifier,
  action_id: uuidV7,
  action: identifier,
};

const jsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

/** Google Cloud Marketplace: the procurement account an entitlement belongs to (absent for other marketplaces). */
const procurementRef = {
  procurement_account_id: z.string().min(1).max(256).optional(),
};

/** An entitlement state as the Procurement API names it (ENTITLEMENT_ACTIVE …), or `NOT_FOUND`. */
const apiState = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "expected a state such as ENTITLEMENT_ACTIVE");

/** One zod schema per operation: envelope plus the operation's own fields. */
export const operationSchemas = {
  /** Workflow 1: tenant provisioned and its governor created. */
  entitlement_active: {
    event_id: identifier,
    entitlement_id: identifier,
    sku_id: identifier,
    plan: identifier,
    region: z.string().max(64).optional(),
    policy_version: identifier,
    concurrency: nonNegInt,
    channel: identifier,
    ...procurementRef,
    /** Google Cloud Marketplace: Service Control's consumer id for this entitlement's usage. */
    usage_reporting_id: z.string().min(1).max(256).optional(),
  },
  /** Workflow 1: a provisioning step failed; everything created was removed. */
  entitlement_failed: {
    event_id: identifier,
    entitlement_id: identifier,
    sku_id: z.string().max(256),
    plan: z.string().max(256),
    step: identifier,
    code: identifier,
    reason: z.string().max(1024),
  },
  /** The tenant's plan changed; the new plan's quotas apply from this receipt on. */
  entitlement_plan_changed: {
    event_id: identifier,
    entitlement_id: identifier,
    previous_plan: identifier,
    plan: identifier,
    policy_version: identifier,
    concurrency: nonNegInt,
  },
  /** The entitlement was suspended: signals are refused until it is reinstated. */
  entitlement_suspended: {
    event_id: identifier,
    entitlement_id: identifier,
    ...procurementRef,
    /** Why: the marketplace suspended it, or Service Control said its consumer may not be served. */
    reason: z.string().max(1024).optional(),
  },
  /** A suspended entitlement was reinstated. */
  entitlement_reinstated: {
    event_id: identifier,
    entitlement_id: identifier,
    ...procurementRef,
  },
  /**
   * Google Cloud Marketplace: a request on an entitlement (its creation, or
   * a plan change) was decided by the SKU's policy and the decision sent to
   * the Procurement API (tenant ledger, before the tenant is provisioned).
   * `awaiting_manual`: the policy leaves it to a person (Producer Portal);
   * nothing was sent.
   */
  entitlement_approval: {
    event_id: identifier,
    entitlement_id: identifier,
    procurement_account_id: identifier,
    sku_id: identifier,
    request: z.enum(["entitlement", "plan_change"]),
    plan: identifier,
    /** The plan a plan change asks for. */
    pending_plan: identifier.optional(),
    decision: z.enum(["approved", "rejected", "awaiting_manual"]),
    /** Why; for a rejection, the reason sent to Google (at most 256 bytes). */
    reason: z.string().max(1024),
  },
  /** The customer asked to cancel: service continues until the entitlement is cancelled. */
  entitlement_cancellation_pending: {
    event_id: identifier,
    entitlement_id: identifier,
    ...procurementRef,
  },
  /** A pending cancellation was reverted: the entitlement continues. */
  entitlement_cancellation_reverted: {
    event_id: identifier,
    entitlement_id: identifier,
    ...procurementRef,
  },
  /**
   * A private offer was accepted whose start is in the future: the tenant is
   * provisioned at `starts_at`. The deadline lives here, so it survives a
   * restart.
   */
  entitlement_offer_scheduled: {
    event_id: identifier,
    entitlement_id: identifier,
    procurement_account_id: identifier,
    sku_id: identifier,
    plan: identifier,
    starts_at: timestamp,
  },
  /**
   * The reconciliation found the governor out of step with the Procurement
   * API and corrects it; the correction's own receipts follow.
   */
  entitlement_reconciled: {
    entitlement_id: identifier,
    ...procurementRef,
    /** What the API says (NOT_FOUND when it no longer knows the entitlement). */
    api_state: apiState,
    /** The governor's state before the correction. */
    governor_state: identifier,
    correction: z.enum(["provision", "change_plan", "suspend", "reinstate", "cancel", "mark_pending_cancellation", "clear_pending_cancellation", "decide_approval"]),
    /** What caused the look: an event of another type, or the periodic sweep. */
    trigger: z.string().min(1).max(64),
  },
  /**
   * Google Cloud Marketplace: a procurement account's state, as the
   * Procurement API gave it when an account event came (platform ledger).
   */
  marketplace_account_recorded: {
    event_id: identifier,
    event_type: identifier,
    procurement_account_id: identifier,
    /** ACCOUNT_ACTIVE, ACCOUNT_ACTIVATION_REQUESTED, …, or NOT_FOUND (deleted). */
    account_state: apiState,
  },
  /**
   * A customer signed up from Google Cloud Marketplace: the sign-up token was
   * verified, the procurement account approved (`approval_name` "signup")
   * and linked to its tenants (platform ledger).
   */
  marketplace_signup: {
    procurement_account_id: identifier,
    approval_name: z.literal("signup"),
    /** The tenants (one per entitlement) of the account known at sign-up. */
    tenants: z.array(ledgerId).max(100),
    /** Whether Governor called approve (false: the account was approved already). */
    approved_now: z.boolean(),
  },
  /**
   * Usage of one window reported to Service Control (tenant ledger). The
   * quantity of each metric is the number of receipts of its operation with
   * seq in [from_seq, to_seq]: an auditor recomputes it from the archive
   * (SPEC.md). Written `pending` before the report is sent and `success`
   * once Service Control accepted it; a pending one is sent again, with the
   * same operation id, after a failure or a restart. `failure`: the check
   * said the consumer may not be served (the governor is then suspended).
   */
  usage_reported: {
    entitlement_id: identifier,
    usage_reporting_id: z.string().min(1).max(256),
    /** Derived from the ledger (see SPEC.md): the same window is the same operation. */
    operation_id: z.string().min(1).max(128),
    start_time: timestamp,
    end_time: timestamp,
    /** The receipts counted: seq from_seq … to_seq, both included (to_seq = from_seq - 1: none). */
    from_seq: nonNegInt,
    to_seq: z.number().int().min(-1),
    metrics: z
      .array(
        z.object({
          metric: z.string().min(1).max(256),
          /** The operation whose receipts are counted. */
          counts: z.enum(["action_complete", "action_started"]),
          quantity: nonNegInt,
        }),
      )
      .max(16),
    /** Service Control's check errors when the check refused the consumer. */
    check_errors: z.array(z.string().max(128)).max(16).optional(),
  },
  /**
   * A tenant token was issued (tenant ledger). Names the token's public id
   * only: the token and its hash never appear in a receipt.
   */
  tenant_token_issued: {
    token_id: tenantTokenId,
    by: z.enum(["admin", "operator"]),
  },
  /**
   * A tenant token stopped working (tenant ledger): revoked by an operator
   * (`revoked`), with every other token of the tenant when it was
   * decommissioned (`decommissioned`), or never stored after its
   * `tenant_token_issued` was written (`not_stored`: it never worked).
   */
  tenant_token_revoked: {
    token_id: tenantTokenId,
    by: z.enum(["admin", "operator", "governor"]),
    reason: z.enum(["revoked", "decommissioned", "not_stored"]),
  },
  /** A marketplace event was received that Governor does not act on (platform ledger). */
  marketplace_event_recorded: {
    event_id: identifier,
    event_type: identifier,
    entitlement_id: z.string().max(256).optional(),
    note: z.string().max(1024),
  },
  /** A pushed policy document failed schema or semantic validation (platform ledger). */
  policy_validation_failed: {
    sku_id: z.string().max(256).optional(),
    policy_version: z.string().max(256).optional(),
    errors: z.array(z.object({ path: z.string().max(1024), message: z.string().max(1024) })).max(100),
  },
  /** An incompatible policy was not applied. */
  policy_upgrade_skipped: {
    sku_id: identifier,
    policy_version: identifier,
    attempted_version: identifier,
    reasons: z.array(z.string().max(1024)).min(1).max(100),
  },
  /** A governor adopted a new policy version. */
  policy_upgraded: {
    sku_id: identifier,
    previous_version: identifier,
    policy_version: identifier,
    forced: z.boolean(),
  },
  /** A governor refused a new policy against its own state and kept the previous one. */
  policy_rollback: {
    sku_id: identifier,
    policy_version: identifier,
    attempted_version: identifier,
    reason: z.string().max(1024),
  },
  /** The governor's concurrency changed (lag, operator request, or a revert). */
  governor_scaled: {
    previous_concurrency: nonNegInt,
    concurrency: nonNegInt,
    cost_delta_usd: decimal,
    reason: z.enum(["lag", "operator", "revert", "plan_change"]),
    queue_depth: nonNegInt,
    oldest_wait_ms: nonNegInt,
  },
  /** A requested scale exceeded the plan's maximum or budget; nothing changed. */
  quota_exceeded: {
    quota: z.enum(["max_concurrency", "monthly_actions"]),
    requested: nonNegInt,
    limit: nonNegInt,
    reason: z.enum(["lag", "operator", "signal"]),
  },
  /** The store failed its health probe repeatedly; actions are refused until it recovers. */
  degraded_mode: {
    scope: z.enum(["store", "tenant"]),
    consecutive_failures: nonNegInt,
    reason: z.string().max(1024),
  },
  /** The store recovered: the spool was flushed and intake resumed. */
  degraded_mode_cleared: {
    scope: z.enum(["store", "tenant"]),
    downtime_seconds: nonNegInt,
    actions_refused: nonNegInt,
    spooled_receipts: nonNegInt,
  },
  /** A signal was accepted but waits for a concurrency slot; it starts in arrival order. */
  action_queued: {
    ...actionRef,
    handler: identifier,
    params: z.record(z.string(), jsonValue),
  },
  /** An action started (directly on acceptance, or from the queue); its deadline lives here, not in a timer. */
  action_started: {
    ...actionRef,
    handler: identifier,
    params: z.record(z.string(), jsonValue),
    deadline: timestamp,
    timeout_ms: nonNegInt,
  },
  /** A signal was refused before anything ran. */
  action_refused: {
    signal_id: identifier,
    action: z.string().max(256),
    code: z.enum(Object.values(RefusalCode) as [RefusalCode, ...RefusalCode[]]),
    reason: z.string().max(1024),
  },
  action_complete: {
    ...actionRef,
    result_sha256: hex64.optional(),
  },
  action_timeout: {
    ...actionRef,
    timeout_ms: nonNegInt,
    cause: z.enum(["deadline", "crash", "drain"]),
  },
  action_failed: {
    ...actionRef,
    code: identifier,
    error: z.string().max(1024),
    recoverable: z.boolean(),
  },
  action_rolled_back: {
    ...actionRef,
    cause: z.enum(["timeout", "error", "crash", "drain"]),
  },
  /** Something a human must look at: a failed rollback, a forced policy, an unrecoverable fault. */
  escalation: {
    code: identifier,
    reason: z.string().max(1024),
    signal_id: identifier.optional(),
    action_id: uuidV7.optional(),
    forced_by: z.string().max(256).optional(),
    policy_version: z.string().max(256).optional(),
  },
  /**
   * A tenant was taken out of service because its governor failed (a fault
   * in its decision path, or a ledger that does not replay): platform ledger.
   * The other tenants go on.
   */
  tenant_quarantined: {
    tenant: ledgerId,
    code: z.enum(["decision_failed", "replay_divergence", "chain_broken", "rebuild_failed"]),
    reason: z.string().max(1024),
  },
  /** A quarantined tenant is back in service, rebuilt from its ledger (platform ledger). */
  tenant_restored: {
    tenant: ledgerId,
    trigger: z.enum(["automatic", "operator"]),
    downtime_seconds: nonNegInt,
    actions_refused: nonNegInt,
  },
  decommission_start: {
    event_id: identifier,
    entitlement_id: identifier,
    in_flight: nonNegInt,
    ...procurementRef,
  },
  decommission_complete: {
    event_id: identifier,
    entitlement_id: identifier,
    archive_uri: z.string().min(1).max(2048),
    archive_bytes: nonNegInt,
    archive_sha256: hex64,
    receipt_count: nonNegInt,
  },
} as const;

export type Operation = keyof typeof operationSchemas;
export const operations = Object.keys(operationSchemas) as Operation[];

function receiptSchemaFor<O extends Operation>(operation: O) {
  return z.strictObject({ ...envelopeShape, operation: z.literal(operation), ...operationSchemas[operation] });
}

type SchemaMap = { [O in Operation]: ReturnType<typeof receiptSchemaFor<O>> };

/** The full receipt schema of each operation (strict: unknown fields are rejected). */
export const receiptSchemas: SchemaMap = Object.fromEntries(
  operations.map((op) => [op, receiptSchemaFor(op)]),
) as SchemaMap;

/** Any receipt, discriminated on `operation`. */
export const Receipt = z.discriminatedUnion(
  "operation",
  operations.map((op) => receiptSchemas[op]) as unknown as [SchemaMap[Operation], ...SchemaMap[Operation][]],
);

/** A stored receipt (with `hash`). */
export type Receipt = { [O in Operation]: z.infer<SchemaMap[O]> }[Operation];
/** A receipt of one operation. */
export type ReceiptOf<O extends Operation> = Extract<Receipt, { operation: O }>;

/** Fields the ledger writer fills in: the rest is the decision. */
export type SealedField = "v" | "receipt_id" | "ledger" | "seq" | "timestamp" | "account_id" | "prev_hash" | "hash";

/** What a governor or the runtime decides: a receipt before the ledger writer seals it. */
export type ReceiptDraft = { [O in Operation]: Omit<ReceiptOf<O>, SealedField> }[Operation];
/** A draft of one operation. */
export type DraftOf<O extends Operation> = Extract<ReceiptDraft, { operation: O }>;

/** `body` = the receipt without `hash`: what is hashed. */
export type ReceiptBody = Omit<Receipt, "hash">;
