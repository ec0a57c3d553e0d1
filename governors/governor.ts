/**
 * One governor step: a command is decided (by the decider of its kind, if
 * the lifecycle state takes it), its receipts are sealed and applied, and
 * what they call for is decided in turn, until nothing more follows. The
 * effects come back to run once the receipts before them are durable.
 *
 * The same loop runs live (the app seals into the ledger) and in the
 * given/when/then specs (they seal into an array): what a spec proves is what
 * production does.
 */
import type { Receipt, ReceiptDraft } from "../src/ledger/receipt.ts";
import { apply, react, type Reaction } from "./apply.ts";
import type { Command, Decision, Effect, Limits, Unavailable } from "./decision.ts";
import { none } from "./decision.ts";
import {
  decideArchived,
  decideCancel,
  decideChangePlan,
  decideDrainExpired,
  decideOutageRecovered,
  decideProvision,
  decideReinstate,
  decideSuspend,
} from "./deciders/lifecycle.ts";
import { decideDeadline, decideFailed, decideNotRun, decideResume, decideRollbackResult, decideSucceeded } from "./deciders/outcome.ts";
import { decidePolicyOffer } from "./deciders/policy.ts";
import { decideScale, decideScaleTick } from "./deciders/scale.ts";
import { decideDequeue, decideSignal, decideUndeliverable } from "./deciders/signal.ts";
import type { PolicyView } from "./policy-view.ts";
import type { GovernorState } from "./state.ts";
import { takes, type Phase } from "./statechart.ts";

export interface GovernorEnv {
  /** The policy the state names (its SKU at its version), if it is known. */
  readonly policyOf: (state: GovernorState) => PolicyView | null;
  readonly limits: Limits;
  /** Seals a draft into the next receipt of the governor's ledger. */
  readonly seal: (draft: ReceiptDraft) => Receipt;
}

/** Why a governor in each state takes no signal. */
const UNAVAILABLE: Record<Exclude<Phase, "active">, Unavailable> = {
  new: "not_provisioned",
  suspended: "suspended",
  degraded: "degraded",
  draining: "decommissioning",
  decommissioning: "decommissioning",
  decommissioned: "decommissioned",
};

/** The decision on a command, by the decider of its kind; nothing when the lifecycle state does not take it. */
export function decide(state: GovernorState, command: Command, env: Pick<GovernorEnv, "policyOf" | "limits">): Decision {
  const phase = state.phase;
  switch (command.type) {
    case "SIGNAL":
      if (phase !== "active") {
        return { drafts: [], effects: [{ type: "reply", signalId: command.signal_id, reply: { kind: "unavailable", reason: UNAVAILABLE[phase] } }] };
      }
      return decideSignal(state, env.policyOf(state), env.limits, command);
    case "PROVISION":
      return takes(phase, "PROVISION") ? decideProvision(command) : none();
    case "CHANGE_PLAN":
      return takes(phase, "CHANGE_PLAN") ? decideChangePlan(state, command) : none();
    case "POLICY_OFFERED":
      return takes(phase, "POLICY_OFFERED") ? decidePolicyOffer(state, command.policy, command.forced, command.now) : none();
    case "SCALE":
      return takes(phase, "SCALE") ? decideScale(state, env.policyOf(state), command) : none();
    case "SCALE_TICK":
      return decideScaleTick(state, env.policyOf(state), command.now);
    case "RESUME": {
      if (!takes(phase, "RESUME")) return none();
      const policy = env.policyOf(state);
      const resumed = decideResume(state, policy, command.now);
      if (phase !== "active" || env.limits.held?.() === true) return resumed;
      const next = decideDequeue(state, policy, command.now);
      return { drafts: [...resumed.drafts, ...next.drafts], effects: [...resumed.effects, ...next.effects] };
    }
    case "DRAIN_QUEUE":
      return takes(phase, "DRAIN_QUEUE") && env.limits.held?.() !== true ? decideDequeue(state, env.policyOf(state), command.now) : none();
    case "CANCEL":
      return takes(phase, "CANCEL") ? decideCancel(state, command) : none();
    case "SUSPEND":
      return takes(phase, "SUSPEND") ? decideSuspend(state, command) : none();
    case "REINSTATE":
      return takes(phase, "REINSTATE") ? decideReinstate(state, command) : none();
    case "DRAIN_EXPIRED":
      return takes(phase, "DRAIN_EXPIRED") ? decideDrainExpired(state, env.policyOf(state), command.now) : none();
    case "ARCHIVED":
      return takes(phase, "ARCHIVED") ? decideArchived(state, command) : none();
    // Outcomes of effects already under way are decided in every state.
    case "HANDLER_SUCCEEDED":
      return decideSucceeded(state, command.actionId, command.now, command.resultSha256);
    case "HANDLER_FAILED":
      return decideFailed(state, env.policyOf(state), command.actionId, command.now, command);
    case "HANDLER_NOT_RUN":
      return decideNotRun(state, command.actionId, command.now);
    case "DEADLINE":
      return decideDeadline(state, env.policyOf(state), command.actionId, command.now);
    case "ROLLBACK_SUCCEEDED":
      return decideRollbackResult(state, command.actionId, command.now, { ok: true, cause: command.cause });
    case "ROLLBACK_FAILED":
      return decideRollbackResult(state, command.actionId, command.now, { ok: false, cause: command.cause, error: command.error });
    case "OUTAGE_RECOVERED":
      return decideOutageRecovered(state, command);
    case "UNDELIVERABLE":
      return decideUndeliverable(command.messageId, command.reason);
    case "NOTE":
      return { drafts: [command.draft], effects: [] };
  }
}

/**
 * Runs one command to quiescence: decide, seal and apply its receipts, then
 * decide what they call for, in order, until nothing follows. The state is
 * changed in place (by `apply` alone, and by a cancel entering its drain).
 * Returns the effects, in the order they were named.
 */
export function run(state: GovernorState, command: Command, env: GovernorEnv): Effect[] {
  const decision = decide(state, command, env);
  // Most steps name no reaction: the arrays are made only when one is.
  let pending: Reaction[] | null = null;
  if ("drain" in decision) {
    // The one state change no receipt makes: the drain begins (statechart: CANCEL).
    state.phase = "draining";
    state.cancel = decision.drain as GovernorState["cancel"];
    pending = [{ type: "finishDrain" }];
  }
  let effects = decision.effects;
  let d: Decision = decision;
  for (let i = 0; ; i++) {
    for (const draft of d.drafts) {
      const { reactions } = apply(state, env.seal(draft));
      if (reactions.length > 0) (pending ??= []).push(...reactions);
    }
    if (d !== decision && d.effects.length > 0) effects = effects.concat(d.effects);
    if (pending === null || i >= pending.length) return effects;
    d = react(state, pending[i]!, env.policyOf(state), env.limits, command.now);
  }
}
