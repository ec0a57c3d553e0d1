/**
 * The governor's decisions: pure functions from (state, command) to the
 * receipts to record and the effects to run once they are durable. They never
 * change the state: only recorded receipts do (see `evolve`).
 */
import type { DraftOf, ReceiptDraft, RefusalCode } from "../src/ledger/receipt.ts";
import type { GovernorState, OpenAction, SignalOutcome } from "./governor-state.ts";
import { currentPlan, queued } from "./governor-state.ts";
import type { PolicyView } from "./policy-view.ts";
import { isoTimestamp, monthOf } from "./timestamps.ts";

/** Why a signal got no decision at all (no receipt): the tenant cannot take signals now. */
/**
 * Why a signal cannot be taken. The governor decides the first five; the
 * runtime around it adds two of its own: `quarantined` (the tenant's governor
 * failed and is out of service) and `not_durable` (its receipt could not be
 * made durable within the admission deadline; a repeat of the same signal id
 * returns its outcome).
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
  | { readonly type: "deleteChannel" };

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

const none = (): Decision => ({ drafts: [], effects: [] });

function ref(a: OpenAction): OpenActionRef {
  return { actionId: a.actionId, signalId: a.signalId, action: a.action, handler: a.handler, params: a.params };
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

export interface Limits {
  readonly maxParamsBytes: number;
  /**
   * True while no new action may start (safe mode): queued actions stay
   * queued. Read by live reactions only; replay never starts anything.
   */
  readonly held?: () => boolean;
}

function refuse(signalId: string, action: string, code: RefusalCode, reason: string): Decision {
  const draft: DraftOf<"action_refused"> = {
    operation: "action_refused",
    status: "refused",
    duration_ms: 0,
    signal_id: signalId,
    action,
    code,
    reason,
  };
  return { drafts: [draft], effects: [{ type: "reply", signalId, reply: { kind: "refused", code, reason } }] };
}

/** A signal to an active governor: duplicate, refusal, start, or queue. */
export function decideSignal(state: GovernorState, policy: PolicyView | null, limits: Limits, cmd: SignalCommand): Decision {
  const seen = state.signals.get(cmd.signal_id);
  if (seen !== undefined) {
    return { drafts: [], effects: [{ type: "reply", signalId: cmd.signal_id, reply: { kind: "duplicate", outcome: { ...seen } } }] };
  }
  const plan = currentPlan(state, policy);
  const spec = policy?.actions.get(cmd.action);
  if (policy === null || plan === undefined) {
    return refuse(cmd.signal_id, cmd.action, "not_permitted", `no policy is loaded for plan "${state.plan ?? "?"}"`);
  }
  if (spec === undefined) {
    return refuse(cmd.signal_id, cmd.action, "unknown_action", `action "${cmd.action}" is not defined by policy ${policy.skuId}@${policy.version}`);
  }
  if (!plan.permits.has(cmd.action)) {
    return refuse(cmd.signal_id, cmd.action, "not_permitted", `plan "${plan.name}" does not permit action "${cmd.action}"`);
  }
  if (cmd.paramsBytes > limits.maxParamsBytes) {
    return refuse(cmd.signal_id, cmd.action, "params_too_large", `params are ${cmd.paramsBytes} bytes; the limit is ${limits.maxParamsBytes}`);
  }
  const invalid = spec.validateParams(cmd.params);
  if (invalid !== null) {
    return refuse(cmd.signal_id, cmd.action, "invalid_params", invalid);
  }
  const month = monthOf(cmd.now);
  const used = month === state.usageMonth ? state.usageCount : 0;
  if (used >= plan.monthlyActions) {
    return refuse(cmd.signal_id, cmd.action, "quota_exhausted", `plan "${plan.name}" allows ${plan.monthlyActions} actions a month; ${used} used in ${month}`);
  }
  const action: OpenActionRef = {
    actionId: cmd.actionId,
    signalId: cmd.signal_id,
    action: cmd.action,
    handler: spec.handler,
    params: cmd.params,
  };
  if (state.busy < state.concurrency && state.queue.length === state.queueHead) {
    const out = start(action, spec.timeoutMs, cmd.now);
    out.effects.push({ type: "reply", signalId: cmd.signal_id, reply: { kind: "accepted", actionId: cmd.actionId, state: "running" } });
    return out;
  }
  const draft: DraftOf<"action_queued"> = {
    operation: "action_queued",
    status: "pending",
    duration_ms: 0,
    signal_id: cmd.signal_id,
    action_id: cmd.actionId,
    action: cmd.action,
    handler: spec.handler,
    params: cmd.params,
  };
  return { drafts: [draft], effects: [{ type: "reply", signalId: cmd.signal_id, reply: { kind: "accepted", actionId: cmd.actionId, state: "pending" } }] };
}

function start(action: OpenActionRef, timeoutMs: number, now: number): { drafts: ReceiptDraft[]; effects: Effect[] } {
  const deadline = now + timeoutMs;
  const draft: DraftOf<"action_started"> = {
    operation: "action_started",
    status: "pending",
    duration_ms: 0,
    signal_id: action.signalId,
    action_id: action.actionId,
    action: action.action,
    handler: action.handler,
    params: action.params,
    deadline: isoTimestamp(deadline),
    timeout_ms: timeoutMs,
  };
  return {
    drafts: [draft],
    effects: [
      { type: "armDeadline", actionId: action.actionId, at: deadline },
      { type: "runHandler", action, deadline },
    ],
  };
}

/** Starts the next queued action if a slot is free (after a slot frees, a scale-up, or on resume). */
export function decideDequeue(state: GovernorState, policy: PolicyView | null, now: number): Decision {
  const out = none();
  // One start per decision: its receipt, once applied, triggers the next
  // dequeue. Deciding several at once would let the reaction to the first
  // receipt see the others as still pending and start them twice.
  let free = Math.min(1, state.concurrency - state.busy);
  if (free <= 0) return out;
  // Walked in place: this runs once per start, with thousands waiting behind.
  for (let i = state.queueHead; i < state.queue.length && free > 0; i++) {
    const open = state.open.get(state.queue[i]!);
    if (open === undefined || open.state !== "pending") continue;
    const spec = policy?.actions.get(open.action);
    const timeoutMs = spec?.timeoutMs ?? 500;
    const s = start(ref(open), timeoutMs, now);
    out.drafts.push(...s.drafts);
    out.effects.push(...s.effects);
    free--;
  }
  return out;
}

/** The `action_failed` receipt of an open action. */
function failedDraft(a: OpenAction, code: string, error: string, recoverable: boolean, durationMs: number): DraftOf<"action_failed"> {
  return {
    operation: "action_failed",
    status: "failure",
    duration_ms: durationMs,
    signal_id: a.signalId,
    action_id: a.actionId,
    action: a.action,
    code,
    error: error.slice(0, 1024),
    recoverable,
  };
}

function duration(a: OpenAction, now: number): number {
  return a.startedAt === null ? 0 : Math.max(0, Math.round(now - a.startedAt));
}

/** The handler returned in time. */
export function decideSucceeded(state: GovernorState, actionId: string, now: number, resultSha256?: string): Decision {
  const a = state.open.get(actionId);
  if (a === undefined || a.state !== "running") return none(); // late: already timed out or resolved
  const draft: DraftOf<"action_complete"> = {
    operation: "action_complete",
    status: "success",
    duration_ms: duration(a, now),
    signal_id: a.signalId,
    action_id: a.actionId,
    action: a.action,
    ...(resultSha256 === undefined ? {} : { result_sha256: resultSha256 }),
  };
  return { drafts: [draft], effects: [{ type: "cancelDeadline", actionId }] };
}

/** The handler failed. Recoverable errors roll back; unrecoverable ones fail and alert. */
export function decideFailed(
  state: GovernorState,
  policy: PolicyView | null,
  actionId: string,
  now: number,
  error: { code: string; message: string; recoverable: boolean },
): Decision {
  const a = state.open.get(actionId);
  if (a === undefined || a.state !== "running") return none();
  const rollback = policy?.actions.get(a.action)?.rollback ?? "auto";
  const recoverable = error.recoverable && rollback === "auto";
  const draft = failedDraft(a, error.code, error.message, recoverable, duration(a, now));
  const effects: Effect[] = [{ type: "cancelDeadline", actionId }];
  if (recoverable) {
    effects.push({ type: "runRollback", action: ref(a), cause: "error", deadline: now + (policy?.actions.get(a.action)?.timeoutMs ?? 500) });
  } else {
    effects.push({
      type: "alert",
      code: "action_failed",
      message: `action ${a.action} (${a.actionId}) failed: ${error.code}`,
      details: { signal_id: a.signalId, action_id: a.actionId, code: error.code },
    });
  }
  return { drafts: [draft], effects };
}

/** The deadline of a running action passed: time out, abort, roll back. */
export function decideDeadline(
  state: GovernorState,
  policy: PolicyView | null,
  actionId: string,
  now: number,
  cause: "deadline" | "crash" | "drain" = "deadline",
): Decision {
  const a = state.open.get(actionId);
  if (a === undefined || a.state !== "running") return none();
  if (cause === "deadline" && a.deadline !== null && now < a.deadline) return none(); // timer fired early
  const timeout: DraftOf<"action_timeout"> = {
    operation: "action_timeout",
    status: "failure",
    duration_ms: duration(a, now),
    signal_id: a.signalId,
    action_id: a.actionId,
    action: a.action,
    timeout_ms: a.timeoutMs,
    cause,
  };
  const spec = policy?.actions.get(a.action);
  const effects: Effect[] = [{ type: "abortHandler", actionId }, { type: "cancelDeadline", actionId }];
  const drafts: ReceiptDraft[] = [timeout];
  if ((spec?.rollback ?? "auto") === "auto") {
    const rollbackCause: RollbackCause = cause === "deadline" ? "timeout" : cause;
    effects.push({ type: "runRollback", action: ref(a), cause: rollbackCause, deadline: now + (spec?.timeoutMs ?? 500) });
  } else {
    const failed = failedDraft(a, "timeout_no_rollback", `timed out after ${a.timeoutMs} ms; the action declares no rollback`, false, 0);
    drafts.push(failed);
  }
  return { drafts, effects };
}

/** A rollback finished (ok) or failed (escalate, never retry in a loop). */
export function decideRollbackResult(
  state: GovernorState,
  actionId: string,
  now: number,
  result: { ok: true; cause: RollbackCause } | { ok: false; cause: RollbackCause; error: string },
): Decision {
  const a = state.open.get(actionId);
  if (a === undefined || (a.state !== "timed_out" && a.state !== "errored")) return none();
  if (result.ok) {
    const draft: DraftOf<"action_rolled_back"> = {
      operation: "action_rolled_back",
      status: "success",
      duration_ms: duration(a, now),
      signal_id: a.signalId,
      action_id: a.actionId,
      action: a.action,
      cause: result.cause,
    };
    return { drafts: [draft], effects: [] };
  }
  const escalation: DraftOf<"escalation"> = {
    operation: "escalation",
    status: "failure",
    duration_ms: 0,
    code: "rollback_failed",
    reason: `rollback of action ${a.action} failed: ${result.error}`.slice(0, 1024),
    signal_id: a.signalId,
    action_id: a.actionId,
  };
  const failed = failedDraft(a, "rollback_failed", result.error, false, duration(a, now));
  return {
    drafts: [escalation, failed],
    effects: [
      {
        type: "alert",
        code: "rollback_failed",
        message: `rollback of action ${a.action} (${a.actionId}) failed; manual attention needed`,
        details: { signal_id: a.signalId, action_id: a.actionId },
      },
    ],
  };
}

/**
 * After a rebuild: actions that were running when the process died are timed
 * out (cause crash) and rolled back; rollbacks that were under way run again
 * (rollbacks must be idempotent); deadlines of nothing else need re-arming.
 */
export function decideResume(state: GovernorState, policy: PolicyView | null, now: number): Decision {
  const out = none();
  for (const a of state.open.values()) {
    if (a.state === "running") {
      const d = decideDeadline(state, policy, a.actionId, now, "crash");
      out.drafts.push(...d.drafts);
      out.effects.push(...d.effects.filter((e) => e.type !== "abortHandler" && e.type !== "cancelDeadline"));
    } else if (a.state === "timed_out" || a.state === "errored") {
      const cause: RollbackCause = "crash";
      out.effects.push({ type: "runRollback", action: ref(a), cause, deadline: now + (policy?.actions.get(a.action)?.timeoutMs ?? 500) });
    }
  }
  return out;
}

/** On cancel: pending actions will never start; each gets its terminal receipt now. */
export function decideCancelQueued(state: GovernorState): Decision {
  const out = none();
  for (const actionId of queued(state)) {
    const a = state.open.get(actionId);
    if (a === undefined || a.state !== "pending") continue;
    const draft = failedDraft(a, "cancelled", "the tenant was cancelled before the action started", false, 0);
    out.drafts.push(draft);
  }
  return out;
}

/** On drain expiry: what still runs is timed out (cause drain) and rolled back. */
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

/** A request to change a governor's concurrency: from the scaler (lag, revert) or an operator. */
export interface ScaleRequest {
  readonly concurrency: number;
  readonly reason: "lag" | "operator" | "revert";
  readonly now: number;
  readonly queueDepth: number;
  readonly oldestWaitMs: number;
}

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
 * Workflow 3, scale: the new concurrency is held to the plan's maximum
 * (over it: `quota_exceeded`, nothing changes); within it, `governor_scaled`
 * applies it at once, with its cost.
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
    queue_depth: req.queueDepth,
    oldest_wait_ms: req.oldestWaitMs,
  };
  return { drafts: [draft], effects: [] };
}
