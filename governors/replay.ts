/**
 * Rebuilding a governor from its receipts: the fold of `evolve` (through
 * `apply`, whose reactions replay never takes: what they decided is in the
 * receipts that follow).
 */
import type { Receipt } from "../src/ledger/receipt.ts";
import { apply } from "./apply.ts";
import type { GovernorState } from "./state.ts";

/** Applies receipts in order to a state (in place) and returns it. */
export function replay(state: GovernorState, receipts: Iterable<Receipt>): GovernorState {
  for (const receipt of receipts) apply(state, receipt);
  return state;
}
