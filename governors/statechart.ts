/**
 * The tenant governor's lifecycle, as a statechart:
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
 * Receipts move it (lifecycle receipts, wherever the governor is); one
 * command does too: CANCEL starts the drain, which is not durable by design
 * (DESIGN.md writes `decommission_start` after the drain; a cancel that a
 * crash interrupts is delivered again by the marketplace). Every other
 * command is taken only in the states that list it.
 *
 * The machine is the single definition; it is never run as an actor. Its
 * steps are read once, with XState's pure `transition()`, into two tables:
 * where a lifecycle receipt leads (`phaseAfter`) and which commands a state
 * takes (`takes`). A governor is a value; these tables are all it needs.
 */
import { setup, transition, type SnapshotFrom } from "xstate";
import type { Receipt } from "../src/ledger/receipt.ts";

export type Phase = "new" | "active" | "suspended" | "degraded" | "draining" | "decommissioning" | "decommissioned";

/** The commands whose acceptance depends on the lifecycle state. */
export type GatedCommand =
  | "SIGNAL"
  | "PROVISION"
  | "CHANGE_PLAN"
  | "POLICY_OFFERED"
  | "SCALE"
  | "CANCEL"
  | "SUSPEND"
  | "REINSTATE"
  | "RESUME"
  | "DRAIN_QUEUE"
  | "FINISH_DRAIN"
  | "DRAIN_EXPIRED"
  | "ARCHIVED";

/** Receipts that move the lifecycle; a tenant-scoped safe-mode receipt is told apart by `:tenant`. */
type LifecycleEvent =
  | "entitlement_active"
  | "entitlement_suspended"
  | "entitlement_reinstated"
  | "degraded_mode:tenant"
  | "degraded_mode_cleared:tenant"
  | "decommission_start"
  | "decommission_complete";

const LIFECYCLE_EVENTS: readonly LifecycleEvent[] = [
  "entitlement_active",
  "entitlement_suspended",
  "entitlement_reinstated",
  "degraded_mode:tenant",
  "degraded_mode_cleared:tenant",
  "decommission_start",
  "decommission_complete",
];

const COMMANDS: readonly GatedCommand[] = [
  "SIGNAL",
  "PROVISION",
  "CHANGE_PLAN",
  "POLICY_OFFERED",
  "SCALE",
  "CANCEL",
  "SUSPEND",
  "REINSTATE",
  "RESUME",
  "DRAIN_QUEUE",
  "FINISH_DRAIN",
  "DRAIN_EXPIRED",
  "ARCHIVED",
];

/** A command a state takes is a self-transition flagged `taken`; one it does not take is absent. */
const take = { actions: "taken" } as const;

export const governorLifecycle = setup({
  types: { events: {} as { type: LifecycleEvent | GatedCommand }, context: {} as { taken: boolean } },
  actions: { taken: () => {} },
}).createMachine({
  id: "governor",
  initial: "new",
  context: { taken: false },
  on: {
    entitlement_active: ".active",
    entitlement_suspended: ".suspended",
    entitlement_reinstated: ".active",
    "degraded_mode:tenant": ".degraded",
    "degraded_mode_cleared:tenant": ".active",
    decommission_start: ".decommissioning",
    decommission_complete: ".decommissioned",
  },
  states: {
    new: { on: { PROVISION: take } },
    active: {
      on: { SIGNAL: take, CHANGE_PLAN: take, POLICY_OFFERED: take, SCALE: take, SUSPEND: take, RESUME: take, DRAIN_QUEUE: take, CANCEL: "draining" },
    },
    suspended: { on: { POLICY_OFFERED: take, REINSTATE: take, RESUME: take, CANCEL: "draining" } },
    degraded: { on: { POLICY_OFFERED: take, SUSPEND: take, RESUME: take, CANCEL: "draining" } },
    draining: { on: { FINISH_DRAIN: take, DRAIN_EXPIRED: take } },
    decommissioning: { on: { ARCHIVED: take } },
    decommissioned: { on: { PROVISION: take } },
  },
});

const PHASES: readonly Phase[] = ["new", "active", "suspended", "degraded", "draining", "decommissioning", "decommissioned"];

function snapshotAt(phase: Phase): SnapshotFrom<typeof governorLifecycle> {
  return governorLifecycle.resolveState({ value: phase, context: { taken: false } });
}

/** Where each lifecycle receipt leads from each state, read from the machine. */
const AFTER: ReadonlyMap<string, Phase> = (() => {
  const t = new Map<string, Phase>();
  for (const from of PHASES) {
    for (const e of LIFECYCLE_EVENTS) t.set(`${from}|${e}`, transition(governorLifecycle, snapshotAt(from), { type: e })[0].value as Phase);
  }
  return t;
})();

/** Which commands each state takes, read from the machine: a transition, or an action, on that event. */
const TAKES: ReadonlyMap<Phase, ReadonlySet<GatedCommand>> = (() => {
  const t = new Map<Phase, Set<GatedCommand>>();
  for (const from of PHASES) {
    const taken = new Set<GatedCommand>();
    for (const c of COMMANDS) {
      const [next, actions] = transition(governorLifecycle, snapshotAt(from), { type: c });
      if (next.value !== from || actions.length > 0) taken.add(c);
    }
    t.set(from, taken);
  }
  return t;
})();

/** The lifecycle event a receipt is, if it is one. */
function lifecycleEventOf(receipt: Receipt): LifecycleEvent | null {
  switch (receipt.operation) {
    case "degraded_mode":
    case "degraded_mode_cleared":
      // Store-scoped ones live on the platform ledger and move no governor.
      return receipt.scope === "tenant" ? `${receipt.operation}:tenant` : null;
    case "entitlement_active":
    case "entitlement_suspended":
    case "entitlement_reinstated":
    case "decommission_start":
    case "decommission_complete":
      return receipt.operation;
    default:
      return null;
  }
}

/** The lifecycle state after a receipt (unchanged for receipts that are not lifecycle receipts). */
export function phaseAfter(phase: Phase, receipt: Receipt): Phase {
  const e = lifecycleEventOf(receipt);
  return e === null ? phase : AFTER.get(`${phase}|${e}`)!;
}

/** True when a governor in `phase` takes the command. */
export function takes(phase: Phase, command: GatedCommand): boolean {
  // Asked on every command: two lookups, no string built.
  return TAKES.get(phase)!.has(command);
}
