/**
 * What becomes of a started action: it completes, fails, times out, is
 * rolled back, or is escalated for review when nothing can undo it
 * (runbook 5). Also what a restarted process does with actions the last one
 * left open.
 */
import type { DraftOf, ReceiptDraft } from "../../src/ledger/receipt.ts";
import type { Decision, Effect, RollbackCause } from "../decision.ts";
import { none, ref } from "../decision.ts";
import type { PolicyView } from "../policy-view.ts";
import type { GovernorState, OpenAction } from "../state.ts";

/** The `action_failed` receipt of an open action. */
export function failedDraft(a: OpenAction, code: string, error: string, recoverable: boolean, durationMs: number): DraftOf<"action_failed"> {
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

/** Runbook 5: a failure nothing can undo is escalated for review, on the ledger and to an alert. */
function escalation(a: OpenAction, code: string, reason: string): DraftOf<"escalation"> {
  return { operation: "escalation", status: "failure", duration_ms: 0, code, reason: reason.slice(0, 1024), signal_id: a.signalId, action_id: a.actionId };
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

/** The handler failed. Recoverable errors roll back; unrecoverable ones fail, escalate and alert. */
export function decideFailed(
  state: GovernorState,
  policy: PolicyView | null,
  actionId: string,
  now: number,
  error: { code: string; message: string; recoverable: boolean },
): Decision {
  const a = state.open.get(actionId);
  if (a === undefined || a.state !== "running") return none();
  const spec = policy?.actions.get(a.action);
  const recoverable = error.recoverable && (spec?.rollback ?? "auto") === "auto";
  const draft = failedDraft(a, error.code, error.message, recoverable, duration(a, now));
  const effects: Effect[] = [{ type: "cancelDeadline", actionId }];
  if (recoverable) {
    effects.push({ type: "runRollback", action: ref(a), cause: "error", deadline: now + (spec?.timeoutMs ?? 500) });
    return { drafts: [draft], effects };
  }
  effects.push({
    type: "alert",
    code: "action_failed",
    message: `action ${a.action} (${a.actionId}) failed and cannot be rolled back: ${error.code}; escalated for review`,
    details: { signal_id: a.signalId, action_id: a.actionId, code: error.code },
  });
  return { drafts: [escalation(a, "action_failed", `action ${a.action} failed (${error.code}) and cannot be rolled back: ${error.message}`), draft], effects };
}

/** A started action that was not run: the store failed (safe mode) before its handler could start. Nothing ran, nothing to undo. */
export function decideNotRun(state: GovernorState, actionId: string, now: number): Decision {
  const a = state.open.get(actionId);
  if (a === undefined || a.state !== "running") return none();
  const draft = failedDraft(a, "safe_mode", "not run: Governor entered safe mode (its ledger store is failing) before the action started", false, duration(a, now));
  return { drafts: [draft], effects: [{ type: "cancelDeadline", actionId }] };
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
    const reason = `timed out after ${a.timeoutMs} ms; the action declares no rollback`;
    drafts.push(escalation(a, "timeout_no_rollback", `action ${a.action} ${reason}`), failedDraft(a, "timeout_no_rollback", reason, false, 0));
    effects.push({
      type: "alert",
      code: "action_timeout",
      message: `action ${a.action} (${a.actionId}) timed out and declares no rollback; escalated for review`,
      details: { signal_id: a.signalId, action_id: a.actionId, cause },
    });
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
  const failed = failedDraft(a, "rollback_failed", result.error, false, duration(a, now));
  return {
    drafts: [escalation(a, "rollback_failed", `rollback of action ${a.action} failed: ${result.error}`), failed],
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

