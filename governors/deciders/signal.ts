/**
 * Signals: is it a repeat, may the plan take it, and does it start now or
 * wait in the queue. Also the starts of queued actions (a slot freed), and
 * messages on the tenant's channel that are not signals at all.
 */
import type { DraftOf, ReceiptDraft, RefusalCode } from "../../src/ledger/receipt.ts";
import type { Decision, Effect, Limits, OpenActionRef, SignalCommand } from "../decision.ts";
import { none, ref } from "../decision.ts";
import type { PolicyView } from "../policy-view.ts";
import { currentPlan, type GovernorState } from "../state.ts";
import { isoTimestamp, monthOf } from "../timestamps.ts";

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

/** A signal to an active governor: duplicate, refusal, start, or queue (signal intake asks the statechart first). */
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

/** The receipt and effects that start an action. */
export function start(action: OpenActionRef, timeoutMs: number, now: number): { drafts: ReceiptDraft[]; effects: Effect[] } {
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


/** A channel message that is not a signal, on its last delivery: a refusal on the tenant's ledger before it is dead-lettered. */
export function decideUndeliverable(messageId: string, reason: string): Decision {
  const draft: DraftOf<"action_refused"> = {
    operation: "action_refused",
    status: "refused",
    duration_ms: 0,
    signal_id: `message-${messageId}`.replace(/[^A-Za-z0-9._:-]/g, "_").slice(0, 256),
    action: "",
    code: "invalid_params",
    reason: `undeliverable message ${messageId}, sent to the dead-letter topic: ${reason}`.slice(0, 1024),
  };
  return { drafts: [draft], effects: [] };
}
