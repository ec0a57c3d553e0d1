/**
 * The lifecycle of one action, driven by its receipts:
 *
 *   pending ─action_started→ running ─action_complete→ complete
 *                               ├─action_timeout→ timed_out ─action_rolled_back→ rolled_back
 *                               ├─action_failed (recoverable)→ errored ─action_rolled_back→ rolled_back
 *                               └─action_failed (unrecoverable)→ failed
 *   timed_out / errored ─action_failed→ failed   (the rollback itself failed)
 *   pending ─action_failed→ failed               (cancelled before it started: decommission)
 *
 * The final states (complete, rolled_back, failed) are the terminal ones: every
 * accepted signal reaches exactly one of them. A receipt that is not a legal
 * step is an error the replay reports, never something it skips.
 */
import { setup, transition, type SnapshotFrom } from "xstate";

/** An event of the action lifecycle: the operation of a receipt about the action. */
export type ActionLifecycleEvent =
  | { type: "action_started" }
  | { type: "action_complete" }
  | { type: "action_timeout" }
  | { type: "action_failed"; recoverable: boolean }
  | { type: "action_rolled_back" };

export const actionLifecycle = setup({
  types: { events: {} as ActionLifecycleEvent },
  guards: {
    recoverable: ({ event }) => event.type === "action_failed" && event.recoverable,
  },
}).createMachine({
  id: "action",
  initial: "pending",
  states: {
    pending: { on: { action_started: "running", action_failed: "failed" } },
    running: {
      on: {
        action_complete: "complete",
        action_timeout: "timed_out",
        action_failed: [{ guard: "recoverable", target: "errored" }, { target: "failed" }],
      },
    },
    timed_out: { on: { action_rolled_back: "rolled_back", action_failed: "failed" } },
    errored: { on: { action_rolled_back: "rolled_back", action_failed: "failed" } },
    complete: { type: "final" },
    rolled_back: { type: "final" },
    failed: { type: "final" },
  },
});

export type ActionState = "pending" | "running" | "timed_out" | "errored" | "complete" | "rolled_back" | "failed";

const states: readonly ActionState[] = ["pending", "running", "timed_out", "errored", "complete", "rolled_back", "failed"];
const events: readonly ActionLifecycleEvent[] = [
  { type: "action_started" },
  { type: "action_complete" },
  { type: "action_timeout" },
  { type: "action_failed", recoverable: true },
  { type: "action_failed", recoverable: false },
  { type: "action_rolled_back" },
];

function eventKey(e: ActionLifecycleEvent): string {
  return e.type === "action_failed" ? `${e.type}:${e.recoverable ? "recoverable" : "unrecoverable"}` : e.type;
}

/**
 * Every legal step, computed once from the machine with XState's pure
 * `transition()`, so the governor's per-receipt bookkeeping is a map lookup
 * while the statechart above stays the single definition.
 */
const table: ReadonlyMap<string, ActionState> = (() => {
  const t = new Map<string, ActionState>();
  for (const from of states) {
    const snapshot = actionLifecycle.resolveState({ value: from, context: undefined }) as SnapshotFrom<typeof actionLifecycle>;
    for (const e of events) {
      const [next] = transition(actionLifecycle, snapshot, e);
      const to = next.value as ActionState;
      if (to !== from) t.set(`${from}|${eventKey(e)}`, to);
    }
  }
  return t;
})();

/** The state after `event`, or null when the event is not a legal step from `from`. */
export function nextActionState(from: ActionState, event: ActionLifecycleEvent): ActionState | null {
  return table.get(`${from}|${eventKey(event)}`) ?? null;
}

/** Whether a state is terminal (final). */
export function isTerminal(state: ActionState): boolean {
  return state === "complete" || state === "rolled_back" || state === "failed";
}
