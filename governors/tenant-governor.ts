/**
 * The tenant governor: one statechart per tenant.
 *
 *   new ──entitlement_active──▶ active ◀──reinstated── suspended
 *                                 │  ▲ ╲──degraded_mode──▶ degraded ──cleared──▶ active
 *                                 │  └───────────────────────────────────────────┘
 *                              CANCEL
 *                                 ▼
 *                             draining ──decommission_start──▶ decommissioning
 *                                                                   │ decommission_complete
 *                                                                   ▼
 *                                       active ◀──entitlement_active── decommissioned
 *
 * Two kinds of events reach it:
 * - commands (SIGNAL, HANDLER_SUCCEEDED, DEADLINE, CANCEL, …) only decide:
 *   they name receipts to `record` and effects to run, and change nothing;
 * - RECORDED (live) and REPLAYED (rebuild) carry a durable receipt: they are
 *   the only way state changes, through `evolve`, so a governor rebuilt from
 *   its ledger is the governor that was running. RECORDED also reacts (start
 *   the next queued action, finish a drain); REPLAYED never does.
 *
 * Effects are named here and supplied by the runtime with `provide()`; the
 * runtime runs an effect only after the receipts recorded before it are durable.
 * There are no delayed transitions: deadlines live in receipts, and the
 * runtime turns them into DEADLINE commands (see statelyai/xstate#5331).
 */
import { assign, enqueueActions, setup } from "xstate";
import type { Receipt, ReceiptDraft } from "../src/ledger/receipt.ts";
import {
  decideCancelQueued,
  decideDeadline,
  decideDequeue,
  decideDrainExpired,
  decideFailed,
  decidePolicyOffer,
  decideResume,
  decideRollbackResult,
  decideScale,
  decideSignal,
  decideSucceeded,
  type Decision,
  type Effect,
  type Limits,
  type RollbackCause,
  type ScaleRequest,
  type SignalCommand,
  type Unavailable,
} from "./decide.ts";
import { evolve, initialGovernorState, resolveStatePolicy, type GovernorState } from "./governor-state.ts";
import type { PolicyResolver, PolicyView } from "./policy-view.ts";

export interface GovernorContext {
  readonly gov: GovernorState;
  policy: PolicyView | null;
  readonly resolvePolicy: PolicyResolver;
  readonly limits: Limits;
  /** Set by CANCEL while draining; not durable (a marketplace retries an unanswered cancel). */
  cancel: { eventId: string; entitlementId: string; requestedAt: number; inFlight: number } | null;
}

export interface GovernorInput {
  readonly account: string;
  readonly resolvePolicy: PolicyResolver;
  readonly limits: Limits;
  /** A state rebuilt elsewhere (from a snapshot); defaults to a fresh one. */
  readonly state?: GovernorState;
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
  readonly now: number;
}

export type GovernorEvent =
  | ({ type: "SIGNAL" } & SignalCommand)
  | ({ type: "PROVISION" } & ProvisionCommand)
  | ({ type: "CHANGE_PLAN" } & ChangePlanCommand)
  | { type: "POLICY_OFFERED"; policy: PolicyView; forced: boolean; now: number }
  | { type: "HANDLER_SUCCEEDED"; actionId: string; now: number; resultSha256?: string }
  | { type: "HANDLER_FAILED"; actionId: string; now: number; code: string; message: string; recoverable: boolean }
  | { type: "DEADLINE"; actionId: string; now: number }
  | { type: "ROLLBACK_SUCCEEDED"; actionId: string; now: number; cause: RollbackCause }
  | { type: "ROLLBACK_FAILED"; actionId: string; now: number; cause: RollbackCause; error: string }
  | { type: "RESUME"; now: number }
  /** Intake resumed after safe mode, or a slot freed: start what waits in the queue. */
  | { type: "DRAIN_QUEUE"; now: number }
  /** The last action of a draining governor ended (applied by the runtime's fast path): decommission may start. */
  | { type: "FINISH_DRAIN"; now: number }
  | ({ type: "SCALE" } & ScaleRequest)
  | { type: "CANCEL"; eventId: string; entitlementId: string; now: number; drainMs: number }
  | { type: "DRAIN_EXPIRED"; now: number }
  | ({ type: "ARCHIVED" } & ArchivedCommand)
  | { type: "RECORDED"; receipt: Receipt; now: number }
  | { type: "REPLAYED"; receipt: Receipt };

type EffectOf<T extends Effect["type"]> = Extract<Effect, { type: T }>;

/** Lifecycle receipts move the statechart; every other receipt is bookkeeping. */
export const lifecycleOps: ReadonlySet<string> = new Set([
  "entitlement_active",
  "entitlement_suspended",
  "entitlement_reinstated",
  "degraded_mode",
  "degraded_mode_cleared",
  "decommission_start",
  "decommission_complete",
]);

const opIs =
  (op: string) =>
  ({ event }: { event: GovernorEvent }): boolean =>
    (event.type === "RECORDED" || event.type === "REPLAYED") && event.receipt.operation === op;

/** A tenant-scoped safe-mode receipt (store-scoped ones live on the platform ledger and move no governor). */
const tenantScoped =
  (op: "degraded_mode" | "degraded_mode_cleared") =>
  ({ event }: { event: GovernorEvent }): boolean =>
    (event.type === "RECORDED" || event.type === "REPLAYED") && event.receipt.operation === op && event.receipt.scope === "tenant";

export const tenantGovernor = setup({
  types: {
    context: {} as GovernorContext,
    events: {} as GovernorEvent,
    input: {} as GovernorInput,
  },
  actions: {
    // Supplied by the runtime with provide(); the defaults do nothing.
    record: (_, _draft: ReceiptDraft) => {},
    runHandler: (_, _e: EffectOf<"runHandler">) => {},
    abortHandler: (_, _e: EffectOf<"abortHandler">) => {},
    runRollback: (_, _e: EffectOf<"runRollback">) => {},
    armDeadline: (_, _e: EffectOf<"armDeadline">) => {},
    cancelDeadline: (_, _e: EffectOf<"cancelDeadline">) => {},
    reply: (_, _e: EffectOf<"reply">) => {},
    alert: (_, _e: EffectOf<"alert">) => {},
    armDrainDeadline: (_, _e: EffectOf<"armDrainDeadline">) => {},
    exportArchive: (_, _e: EffectOf<"exportArchive">) => {},
    deleteChannel: (_, _e: EffectOf<"deleteChannel">) => {},

    evolve: assign(({ context, event }) => {
      if (event.type !== "RECORDED" && event.type !== "REPLAYED") return {};
      const before = context.gov.policyVersion;
      evolve(context.gov, event.receipt);
      const policyChanged = context.gov.policyVersion !== before || event.receipt.operation === "entitlement_plan_changed";
      return policyChanged || context.policy === null ? { policy: resolveStatePolicy(context.gov, context.resolvePolicy) } : {};
    }),
    dequeue: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "RECORDED") return;
      const g = context.gov;
      if (g.queue.length === g.queueHead || g.busy >= g.concurrency || context.limits.held?.() === true) return;
      emit(enqueue, decideDequeue(g, context.policy, event.now));
    }),
    finishDrain: enqueueActions(({ context, event, enqueue }) => {
      if (context.gov.open.size !== 0 || context.cancel === null) return;
      const draft: ReceiptDraft = {
        operation: "decommission_start",
        status: "pending",
        duration_ms: Math.max(0, Math.round((event.type === "RECORDED" || event.type === "FINISH_DRAIN" ? event.now : context.cancel.requestedAt) - context.cancel.requestedAt)),
        event_id: context.cancel.eventId,
        entitlement_id: context.cancel.entitlementId,
        in_flight: context.cancel.inFlight,
      };
      emit(enqueue, { drafts: [draft], effects: [] });
    }),
    beginCancel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "CANCEL") return;
      enqueue.assign({
        cancel: { eventId: event.eventId, entitlementId: event.entitlementId, requestedAt: event.now, inFlight: context.gov.busy },
      });
      emit(enqueue, decideCancelQueued(context.gov));
      emit(enqueue, { drafts: [], effects: [{ type: "armDrainDeadline", at: event.now + event.drainMs }] });
    }),
    offerPolicy: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "POLICY_OFFERED") return;
      emit(enqueue, decidePolicyOffer(context.gov, event.policy, event.forced, event.now));
    }),
    refuseUnavailable: enqueueActions(({ event, enqueue }, reason: Unavailable) => {
      if (event.type !== "SIGNAL") return;
      emit(enqueue, { drafts: [], effects: [{ type: "reply", signalId: event.signal_id, reply: { kind: "unavailable", reason } }] });
    }),
    /**
     * One decision: its receipts recorded, then its effects run, in that
     * order. By default it enqueues them as the named actions above; a
     * runtime may supply it whole instead, which costs one action per
     * decision rather than one per receipt and per effect (every signal
     * takes two decisions).
     */
    decided: enqueueActions(({ enqueue }, decision: Decision) => emit(enqueue, decision)),
  },
  guards: {
    isActionReceipt: ({ event }) => (event.type === "RECORDED" || event.type === "REPLAYED") && !lifecycleOps.has(event.receipt.operation),
    nothingOpen: ({ context }) => context.gov.open.size === 0,
  },
}).createMachine({
  id: "governor",
  context: ({ input }) => ({
    gov: input.state ?? initialGovernorState(input.account),
    policy: input.state === undefined ? null : resolveStatePolicy(input.state, input.resolvePolicy),
    resolvePolicy: input.resolvePolicy,
    limits: input.limits,
    cancel: null,
  }),
  initial: "new",
  on: {
    // Receipts that move the lifecycle, wherever the governor is.
    RECORDED: [
      { guard: opIs("entitlement_active"), target: ".active", actions: "evolve" },
      { guard: opIs("entitlement_suspended"), target: ".suspended", actions: "evolve" },
      { guard: opIs("entitlement_reinstated"), target: ".active", actions: ["evolve", "dequeue"] },
      { guard: tenantScoped("degraded_mode"), target: ".degraded", actions: "evolve" },
      { guard: tenantScoped("degraded_mode_cleared"), target: ".active", actions: ["evolve", "dequeue"] },
      { guard: opIs("decommission_start"), target: ".decommissioning", actions: ["evolve", { type: "exportArchive", params: { type: "exportArchive" } }] },
      { guard: opIs("decommission_complete"), target: ".decommissioned", actions: ["evolve", { type: "deleteChannel", params: { type: "deleteChannel" } }] },
      { actions: "evolve" },
    ],
    REPLAYED: [
      { guard: opIs("entitlement_active"), target: ".active", actions: "evolve" },
      { guard: opIs("entitlement_suspended"), target: ".suspended", actions: "evolve" },
      { guard: opIs("entitlement_reinstated"), target: ".active", actions: "evolve" },
      { guard: tenantScoped("degraded_mode"), target: ".degraded", actions: "evolve" },
      { guard: tenantScoped("degraded_mode_cleared"), target: ".active", actions: "evolve" },
      { guard: opIs("decommission_start"), target: ".decommissioning", actions: "evolve" },
      { guard: opIs("decommission_complete"), target: ".decommissioned", actions: "evolve" },
      { actions: "evolve" },
    ],
    // Outcomes of effects already under way are decided in every state.
    HANDLER_SUCCEEDED: { actions: { type: "decided", params: settle } },
    HANDLER_FAILED: { actions: { type: "decided", params: settle } },
    DEADLINE: { actions: { type: "decided", params: settle } },
    ROLLBACK_SUCCEEDED: { actions: { type: "decided", params: settle } },
    ROLLBACK_FAILED: { actions: { type: "decided", params: settle } },
  },
  states: {
    new: {
      on: {
        PROVISION: { actions: enqueueActions(({ event, enqueue }) => enqueue({ type: "record", params: entitlementActive(event) })) },
        SIGNAL: { actions: { type: "refuseUnavailable", params: "not_provisioned" } },
      },
    },
    active: {
      on: {
        SIGNAL: {
          actions: { type: "decided", params: ({ context, event }) => decideSignal(context.gov, context.policy, context.limits, event) },
        },
        RECORDED: { guard: "isActionReceipt", actions: ["evolve", "dequeue"] },
        RESUME: {
          actions: [
            { type: "decided", params: settle },
            enqueueActions(({ context, event, enqueue }) => emit(enqueue, decideDequeue(context.gov, context.policy, event.now))),
          ],
        },
        CANCEL: { target: "draining", actions: "beginCancel" },
        POLICY_OFFERED: { actions: "offerPolicy" },
        SCALE: {
          actions: enqueueActions(({ context, event, enqueue }) => emit(enqueue, decideScale(context.gov, context.policy, event))),
        },
        DRAIN_QUEUE: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.limits.held?.() === true) return;
            emit(enqueue, decideDequeue(context.gov, context.policy, event.now));
          }),
        },
        CHANGE_PLAN: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const g = context.gov;
            if (g.plan === null) return;
            const draft: ReceiptDraft = {
              operation: "entitlement_plan_changed",
              status: "success",
              duration_ms: 0,
              event_id: event.eventId,
              entitlement_id: event.entitlementId,
              previous_plan: g.plan,
              plan: event.plan,
              policy_version: event.policyVersion,
              concurrency: event.concurrency,
            };
            enqueue({ type: "record", params: draft });
          }),
        },
      },
    },
    suspended: {
      on: {
        SIGNAL: { actions: { type: "refuseUnavailable", params: "suspended" } },
        RESUME: { actions: { type: "decided", params: settle } },
        POLICY_OFFERED: { actions: "offerPolicy" },
        CANCEL: { target: "draining", actions: "beginCancel" },
      },
    },
    degraded: {
      on: {
        SIGNAL: { actions: { type: "refuseUnavailable", params: "degraded" } },
        RESUME: { actions: { type: "decided", params: settle } },
        POLICY_OFFERED: { actions: "offerPolicy" },
        CANCEL: { target: "draining", actions: "beginCancel" },
      },
    },
    draining: {
      entry: "finishDrain",
      on: {
        SIGNAL: { actions: { type: "refuseUnavailable", params: "decommissioning" } },
        RECORDED: { guard: "isActionReceipt", actions: ["evolve", "finishDrain"] },
        FINISH_DRAIN: { actions: "finishDrain" },
        DRAIN_EXPIRED: {
          actions: enqueueActions(({ context, event, enqueue }) => emit(enqueue, decideDrainExpired(context.gov, context.policy, event.now))),
        },
      },
    },
    decommissioning: {
      on: {
        SIGNAL: { actions: { type: "refuseUnavailable", params: "decommissioning" } },
        ARCHIVED: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.cancel === null) return;
            enqueue({
              type: "record",
              params: {
                operation: "decommission_complete",
                status: "success",
                duration_ms: Math.max(0, Math.round(event.now - context.cancel.requestedAt)),
                event_id: context.cancel.eventId,
                entitlement_id: context.cancel.entitlementId,
                archive_uri: event.archiveUri,
                archive_bytes: event.archiveBytes,
                archive_sha256: event.archiveSha256,
                receipt_count: event.receiptCount,
              },
            });
          }),
        },
      },
    },
    decommissioned: {
      on: {
        SIGNAL: { actions: { type: "refuseUnavailable", params: "decommissioned" } },
        PROVISION: { actions: enqueueActions(({ event, enqueue }) => enqueue({ type: "record", params: entitlementActive(event) })) },
      },
    },
  },
});

function entitlementActive(event: ProvisionCommand & { type: "PROVISION" }): ReceiptDraft {
  return {
    operation: "entitlement_active",
    status: "success",
    duration_ms: event.durationMs,
    event_id: event.eventId,
    entitlement_id: event.entitlementId,
    sku_id: event.skuId,
    plan: event.plan,
    ...(event.region === undefined ? {} : { region: event.region }),
    policy_version: event.policyVersion,
    concurrency: event.concurrency,
    channel: event.channel,
  };
}

type Enqueue = {
  (action: { type: "record"; params: ReceiptDraft }): void;
  (action: { type: Effect["type"]; params: Effect }): void;
};

/** The decision on the outcome of an effect under way (or, on RESUME, on what a stopped process left open). */
function settle({ context, event }: { context: GovernorContext; event: GovernorEvent }): Decision {
  const g = context.gov;
  switch (event.type) {
    case "HANDLER_SUCCEEDED":
      return decideSucceeded(g, event.actionId, event.now, event.resultSha256);
    case "HANDLER_FAILED":
      return decideFailed(g, context.policy, event.actionId, event.now, { code: event.code, message: event.message, recoverable: event.recoverable });
    case "DEADLINE":
      return decideDeadline(g, context.policy, event.actionId, event.now);
    case "ROLLBACK_SUCCEEDED":
      return decideRollbackResult(g, event.actionId, event.now, { ok: true, cause: event.cause });
    case "ROLLBACK_FAILED":
      return decideRollbackResult(g, event.actionId, event.now, { ok: false, cause: event.cause, error: event.error });
    case "RESUME":
      return decideResume(g, context.policy, event.now);
    default:
      return { drafts: [], effects: [] };
  }
}

/** Enqueues a decision: its receipts first, then the effects they make safe. */
function emit(enqueue: unknown, decision: Decision): void {
  const e = enqueue as Enqueue;
  for (const draft of decision.drafts) e({ type: "record", params: draft });
  for (const effect of decision.effects) e({ type: effect.type, params: effect });
}

export type TenantGovernor = typeof tenantGovernor;
