/**
 * Applying a durable receipt: `evolve` changes the state (the only code that
 * does), and the reactions say what the governor does next because of it,
 * decided only when they are taken (`react`), on the state as it is then.
 * Live running applies and reacts; replay applies alone; both through this.
 */
import type { Receipt } from "../src/ledger/receipt.ts";
import type { Decision, Effect, Limits } from "./decision.ts";
import { none } from "./decision.ts";
import { decideFinishDrain } from "./deciders/lifecycle.ts";
import { decideDequeue } from "./deciders/signal.ts";
import type { PolicyView } from "./policy-view.ts";
import { canStartQueued, evolve, type GovernorState } from "./state.ts";

/** What a receipt leads to: start the next queued action, end a drain, or an effect of the receipt itself. */
export type Reaction = { readonly type: "dequeue" } | { readonly type: "finishDrain" } | { readonly type: "effect"; readonly effect: Effect };

const DEQUEUE: Reaction = { type: "dequeue" };
const FINISH_DRAIN: Reaction = { type: "finishDrain" };
const EXPORT_ARCHIVE: Reaction = { type: "effect", effect: { type: "exportArchive" } };
const DELETE_CHANNEL: Reaction = { type: "effect", effect: { type: "deleteChannel" } };
const NO_REACTIONS: readonly Reaction[] = [];

/** Applies a receipt (in place) and names the reactions it calls for. */
export function apply(state: GovernorState, receipt: Receipt): { state: GovernorState; reactions: readonly Reaction[] } {
  evolve(state, receipt);
  switch (receipt.operation) {
    case "decommission_start":
      return { state, reactions: [EXPORT_ARCHIVE] };
    case "decommission_complete":
      return { state, reactions: [DELETE_CHANNEL] };
    case "entitlement_active":
    case "entitlement_plan_changed":
    case "governor_scaled":
      return { state, reactions: [{ type: "effect", effect: { type: "tuneChannel", concurrency: receipt.concurrency } }, ...follow(state)] };
    default:
      return { state, reactions: follow(state) };
  }
}

/** The reactions the state itself calls for: a free slot with actions waiting, or a drain with nothing left open. */
function follow(state: GovernorState): readonly Reaction[] {
  if (state.phase === "active") return canStartQueued(state) ? [DEQUEUE] : NO_REACTIONS;
  if (state.phase === "draining") return state.open.size === 0 ? [FINISH_DRAIN] : NO_REACTIONS;
  return NO_REACTIONS;
}

/** Decides a reaction on the state as it is now. */
export function react(state: GovernorState, reaction: Reaction, policy: PolicyView | null, limits: Limits, now: number): Decision {
  switch (reaction.type) {
    case "dequeue":
      // In safe mode nothing new starts: queued actions stay queued until intake resumes.
      if (state.phase !== "active" || limits.held?.() === true) return none();
      return decideDequeue(state, policy, now);
    case "finishDrain":
      return decideFinishDrain(state, now);
    case "effect":
      return { drafts: [], effects: [reaction.effect] };
  }
}
