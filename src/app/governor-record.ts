/**
 * What the app keeps of one tenant's governor beside its state: the effects
 * under way (handlers, deadlines, the drain timer) and its bookkeeping
 * (snapshots, callers waiting for the end of a decommission).
 */
import type { GovernorState } from "../../governors/state.ts";
import type { LedgerId } from "../ledger/receipt.ts";
import type { Deadline } from "./deadline-queue.ts";

export interface Governor {
  readonly account: LedgerId;
  /** The governor itself: a value, changed only by `run` (governors/governor.ts). */
  readonly state: GovernorState;
  /** Handlers running, by action id; null while none has run (10,000 idle governors: less memory). */
  controllers: Map<string, AbortController> | null;
  /** Armed deadlines, by action id; null likewise. */
  deadlines: Map<string, Deadline> | null;
  drainTimer: { cancel(): void } | null;
  /** Callers waiting for the end of a decommission. */
  decommissionWaiters: { resolve: () => void; reject: (e: Error) => void }[];
  lastSnapshotSeq: number;
  snapshotting: boolean;
  /** Dropped (its ledger was written by another runtime, or it failed): late callbacks of its effects are ignored. */
  retired: boolean;
}

export function newGovernorRecord(account: LedgerId, state: GovernorState): Governor {
  return { account, state, controllers: null, deadlines: null, drainTimer: null, decommissionWaiters: [], lastSnapshotSeq: 0, snapshotting: false, retired: false };
}
