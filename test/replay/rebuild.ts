/** What a recorded ledger rebuilds to, in a form that can be compared and committed. */
import { transition } from "xstate";
import { apply } from "../../governors/apply.ts";
import { replay } from "../../governors/replay.ts";
import { serializeState } from "../../governors/snapshot.ts";
import { initialGovernorState, resolveStatePolicy } from "../../governors/state.ts";
import { governorLifecycle } from "../../governors/statechart.ts";
import type { Receipt } from "../../src/ledger/receipt.ts";
import { resolveRecordedPolicy } from "./recorded-policies.ts";

const resolvePolicy = resolveRecordedPolicy;

/** Through replay, as a restarted runtime rebuilds a governor. */
export function rebuiltState(receipts: readonly Receipt[]) {
  const account = receipts[0]!.ledger;
  const state = replay(initialGovernorState(account), receipts);
  return { value: state.phase, policy_version: resolveStatePolicy(state, resolvePolicy)?.version ?? null, state: serializeState(state) };
}

/** Through `apply` one receipt at a time, as the live loop applies them, with the reactions it names. */
export function appliedLive(receipts: readonly Receipt[]) {
  const account = receipts[0]!.ledger;
  const state = initialGovernorState(account);
  const reactions: string[] = [];
  for (const r of receipts) for (const reaction of apply(state, r).reactions) reactions.push(reaction.type === "effect" ? reaction.effect.type : reaction.type);
  return { value: state.phase, policy_version: resolveStatePolicy(state, resolvePolicy)?.version ?? null, state: serializeState(state), reactions };
}

/** The lifecycle state the statechart itself reaches, run as a machine on the lifecycle receipts (no table). */
export function phaseByStatechart(receipts: readonly Receipt[]): string {
  let snapshot = governorLifecycle.resolveState({ value: "new", context: { taken: false } });
  for (const r of receipts) {
    const scoped = (r.operation === "degraded_mode" || r.operation === "degraded_mode_cleared") && r.scope === "tenant" ? `${r.operation}:tenant` : r.operation;
    if (snapshot.can({ type: scoped as never })) snapshot = transition(governorLifecycle, snapshot, { type: scoped as never })[0];
  }
  return snapshot.value as string;
}
