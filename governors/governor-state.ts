/**
 * A governor's state and the one function that changes it: `evolve`, a fold
 * step over receipts. Live and on replay the same function applies the same
 * receipts, so a rebuilt governor is the governor that was running.
 *
 * For speed the maps are updated in place (a governor applies tens of
 * thousands of receipts a second); a snapshot for persistence is taken with
 * `serializeState`, which copies.
 */
import type { Receipt } from "../src/ledger/receipt.ts";
import { isTerminal, nextActionState, type ActionLifecycleEvent, type ActionState } from "./action-lifecycle.ts";
import type { PolicyResolver, PolicyView } from "./policy-view.ts";
import { parseTimestamp } from "./timestamps.ts";

/** An action that has not reached a terminal state. */
export interface OpenAction {
  readonly actionId: string;
  readonly signalId: string;
  readonly action: string;
  readonly handler: string;
  readonly params: Record<string, unknown>;
  state: ActionState;
  /** Deadline in epoch ms while running; null while pending. */
  deadline: number | null;
  timeoutMs: number;
  /** When the signal was accepted (epoch ms), for queue age. */
  acceptedAt: number;
  startedAt: number | null;
}

/** What became of a signal: returned again for a repeated signal id. */
export interface SignalOutcome {
  readonly actionId: string | null;
  state: ActionState | "refused";
  code?: string;
}

export interface GovernorState {
  readonly account: string;
  entitlementId: string | null;
  skuId: string | null;
  plan: string | null;
  policyVersion: string | null;
  concurrency: number;
  /** Non-terminal actions by action id. */
  readonly open: Map<string, OpenAction>;
  /** Pending action ids in arrival order (`queueHead` is the next to start). */
  queue: string[];
  queueHead: number;
  /** Actions holding a concurrency slot (running, or being rolled back). */
  busy: number;
  readonly signals: Map<string, SignalOutcome>;
  usageMonth: string;
  usageCount: number;
  lastSuccessAt: string | null;
  /** The last concurrency change: its scaling window starts here. */
  lastScale: LastScale | null;
  /** Seq of the last receipt applied; -1 for none. */
  lastSeq: number;
  lastHash: string | null;
}

/** What a `governor_scaled` receipt left behind, for the scaler's window. */
export interface LastScale {
  /** Epoch ms of the receipt. */
  readonly at: number;
  readonly previous: number;
  readonly concurrency: number;
  /** Queue depth when it was decided: lag must fall below this within the window. */
  readonly queueDepth: number;
  readonly reason: "lag" | "operator" | "revert" | "plan_change";
}

export function initialGovernorState(account: string): GovernorState {
  return {
    account,
    entitlementId: null,
    skuId: null,
    plan: null,
    policyVersion: null,
    concurrency: 0,
    open: new Map(),
    queue: [],
    queueHead: 0,
    busy: 0,
    signals: new Map(),
    usageMonth: "",
    usageCount: 0,
    lastSuccessAt: null,
    lastScale: null,
    lastSeq: -1,
    lastHash: null,
  };
}

/** Raised when a receipt cannot follow the state: the ledger and the code disagree. */
export class ReplayDivergenceError extends Error {
  readonly code = "GOVERNOR_REPLAY_DIVERGENCE";
  constructor(message: string) {
    super(message);
    this.name = "ReplayDivergenceError";
  }
}

const occupiesSlot = (s: ActionState): boolean => s === "running" || s === "timed_out" || s === "errored";

function step(state: GovernorState, receipt: Receipt, actionId: string, event: ActionLifecycleEvent): OpenAction | undefined {
  const open = state.open.get(actionId);
  if (open === undefined) {
    throw new ReplayDivergenceError(`seq ${receipt.seq}: ${receipt.operation} for action ${actionId}, which is not open`);
  }
  const next = nextActionState(open.state, event);
  if (next === null) {
    throw new ReplayDivergenceError(`seq ${receipt.seq}: ${receipt.operation} is not a legal step from ${open.state} for action ${actionId}`);
  }
  const before = occupiesSlot(open.state);
  const after = occupiesSlot(next);
  if (before && !after) state.busy--;
  if (!before && after) state.busy++;
  open.state = next;
  const outcome = state.signals.get(open.signalId);
  if (outcome !== undefined) outcome.state = next;
  if (isTerminal(next)) {
    state.open.delete(actionId);
    return undefined;
  }
  return open;
}

/** A newly accepted signal: its action opens (pending), counts against the month's quota, and its outcome is remembered. */
function accept(state: GovernorState, receipt: Extract<Receipt, { operation: "action_queued" | "action_started" }>): OpenAction {
  countUsage(state, receipt.timestamp);
  const open: OpenAction = {
    actionId: receipt.action_id,
    signalId: receipt.signal_id,
    action: receipt.action,
    handler: receipt.handler,
    params: receipt.params,
    state: "pending",
    deadline: null,
    timeoutMs: 0,
    acceptedAt: parseTimestamp(receipt.timestamp),
    startedAt: null,
  };
  state.open.set(receipt.action_id, open);
  state.signals.set(receipt.signal_id, { actionId: receipt.action_id, state: "pending" });
  return open;
}

function countUsage(state: GovernorState, timestamp: string): void {
  const month = timestamp.slice(0, 7);
  if (month !== state.usageMonth) {
    state.usageMonth = month;
    state.usageCount = 0;
  }
  state.usageCount++;
}

/**
 * Applies one receipt to the state (in place) and returns it. Throws
 * ReplayDivergenceError when the receipt is not a legal next step.
 */
export function evolve(state: GovernorState, receipt: Receipt): GovernorState {
  if (receipt.seq !== state.lastSeq + 1) {
    throw new ReplayDivergenceError(`expected seq ${state.lastSeq + 1}, got ${receipt.seq}`);
  }
  switch (receipt.operation) {
    case "entitlement_active":
      state.entitlementId = receipt.entitlement_id;
      state.skuId = receipt.sku_id;
      state.plan = receipt.plan;
      state.policyVersion = receipt.policy_version;
      state.concurrency = receipt.concurrency;
      break;
    case "entitlement_plan_changed":
      state.plan = receipt.plan;
      state.policyVersion = receipt.policy_version;
      state.concurrency = receipt.concurrency;
      break;
    case "policy_upgraded":
      state.policyVersion = receipt.policy_version;
      break;
    case "governor_scaled":
      state.concurrency = receipt.concurrency;
      state.lastScale = {
        at: parseTimestamp(receipt.timestamp),
        previous: receipt.previous_concurrency,
        concurrency: receipt.concurrency,
        queueDepth: receipt.queue_depth,
        reason: receipt.reason,
      };
      break;
    case "action_refused":
      state.signals.set(receipt.signal_id, { actionId: null, state: "refused", code: receipt.code });
      break;
    case "action_queued":
      accept(state, receipt);
      state.queue.push(receipt.action_id);
      break;
    case "action_started": {
      let open = state.open.get(receipt.action_id);
      if (open === undefined) {
        // Accepted and started at once: it was never queued.
        open = accept(state, receipt);
      } else {
        // Started from the queue: it must be the head (queues are FIFO).
        if (state.queue[state.queueHead] !== receipt.action_id) {
          throw new ReplayDivergenceError(`seq ${receipt.seq}: action ${receipt.action_id} started out of queue order`);
        }
        dequeue(state);
      }
      const started = parseTimestamp(receipt.timestamp);
      open.startedAt = started;
      open.deadline = parseTimestamp(receipt.deadline);
      open.timeoutMs = receipt.timeout_ms;
      step(state, receipt, receipt.action_id, { type: "action_started" });
      break;
    }
    case "action_complete":
      step(state, receipt, receipt.action_id, { type: "action_complete" });
      state.lastSuccessAt = receipt.timestamp;
      break;
    case "action_timeout":
      step(state, receipt, receipt.action_id, { type: "action_timeout" });
      break;
    case "action_failed": {
      const open = state.open.get(receipt.action_id);
      const wasPending = open?.state === "pending";
      step(state, receipt, receipt.action_id, { type: "action_failed", recoverable: receipt.recoverable });
      if (wasPending) removeFromQueue(state, receipt.action_id);
      break;
    }
    case "action_rolled_back":
      step(state, receipt, receipt.action_id, { type: "action_rolled_back" });
      break;
    default:
      // Lifecycle receipts (decommission, suspension, safe mode) move the
      // statechart, not this bookkeeping; platform receipts do not reach a governor.
      break;
  }
  state.lastSeq = receipt.seq;
  state.lastHash = receipt.hash;
  return state;
}

function dequeue(state: GovernorState): void {
  state.queueHead++;
  // Compact now and then so the array does not grow without bound.
  if (state.queueHead > 1024 && state.queueHead * 2 > state.queue.length) {
    state.queue = state.queue.slice(state.queueHead);
    state.queueHead = 0;
  }
}

function removeFromQueue(state: GovernorState, actionId: string): void {
  const idx = state.queue.indexOf(actionId, state.queueHead);
  if (idx === state.queueHead) dequeue(state);
  else if (idx > state.queueHead) state.queue.splice(idx, 1);
}

/** Pending action ids in start order. */
export function queued(state: GovernorState): readonly string[] {
  return state.queue.slice(state.queueHead);
}

export function queueDepth(state: GovernorState): number {
  return state.queue.length - state.queueHead;
}

/** How long the oldest pending action has waited, in ms (0 with an empty queue). */
export function oldestWaitMs(state: GovernorState, now: number): number {
  for (let i = state.queueHead; i < state.queue.length; i++) {
    const open = state.open.get(state.queue[i]!);
    if (open !== undefined && open.state === "pending") return Math.max(0, now - open.acceptedAt);
  }
  return 0;
}

/** The current plan's view under the current policy, if the governor has both. */
export function currentPlan(state: GovernorState, policy: PolicyView | null) {
  return policy !== null && state.plan !== null ? policy.plans.get(state.plan) : undefined;
}

/** A JSON-safe copy of the state, for snapshots. */
export interface SerializedGovernorState {
  readonly account: string;
  readonly entitlementId: string | null;
  readonly skuId: string | null;
  readonly plan: string | null;
  readonly policyVersion: string | null;
  readonly concurrency: number;
  readonly open: OpenAction[];
  readonly queue: string[];
  readonly busy: number;
  readonly signals: [string, SignalOutcome][];
  readonly usageMonth: string;
  readonly usageCount: number;
  readonly lastSuccessAt: string | null;
  /** Absent in snapshots written before scaling windows existed. */
  readonly lastScale?: LastScale | null;
  readonly lastSeq: number;
  readonly lastHash: string | null;
}

export function serializeState(state: GovernorState): SerializedGovernorState {
  return {
    account: state.account,
    entitlementId: state.entitlementId,
    skuId: state.skuId,
    plan: state.plan,
    policyVersion: state.policyVersion,
    concurrency: state.concurrency,
    open: [...state.open.values()].map((a) => ({ ...a })),
    queue: queued(state).slice(),
    busy: state.busy,
    signals: [...state.signals].map(([id, o]) => [id, { ...o }]),
    usageMonth: state.usageMonth,
    usageCount: state.usageCount,
    lastSuccessAt: state.lastSuccessAt,
    ...(state.lastScale === null ? {} : { lastScale: { ...state.lastScale } }),
    lastSeq: state.lastSeq,
    lastHash: state.lastHash,
  };
}

export function deserializeState(s: SerializedGovernorState): GovernorState {
  return {
    account: s.account,
    entitlementId: s.entitlementId,
    skuId: s.skuId,
    plan: s.plan,
    policyVersion: s.policyVersion,
    concurrency: s.concurrency,
    open: new Map(s.open.map((a) => [a.actionId, { ...a }])),
    queue: s.queue.slice(),
    queueHead: 0,
    busy: s.busy,
    signals: new Map(s.signals.map(([id, o]) => [id, { ...o }])),
    usageMonth: s.usageMonth,
    usageCount: s.usageCount,
    lastSuccessAt: s.lastSuccessAt,
    lastScale: s.lastScale ?? null,
    lastSeq: s.lastSeq,
    lastHash: s.lastHash,
  };
}

/**
 * The form a state takes in a stored snapshot: `SerializedGovernorState`
 * with the signal outcomes in columns. A tenant that has taken a million
 * signals remembers half a million outcomes (every signal id, so a repeat is
 * never run twice); as pairs of `[id, {actionId, state}]` their JSON is
 * twice as long and several times slower to read back than three columns.
 */
export interface StoredGovernorState extends Omit<SerializedGovernorState, "signals"> {
  readonly signals: {
    readonly ids: string[];
    /** The action id of each signal ("" for a refusal, which has none). */
    readonly actionIds: string[];
    /** One letter per signal: its state (see OUTCOME_LETTERS). */
    readonly states: string;
    /** Refusal codes, by position. */
    readonly codes: Record<string, string>;
  };
}

type OutcomeState = SignalOutcome["state"];
const OUTCOME_STATES: readonly OutcomeState[] = ["pending", "running", "timed_out", "errored", "complete", "rolled_back", "failed", "refused"];
/** `OUTCOME_LETTERS[i]` stands for `OUTCOME_STATES[i]`. */
const OUTCOME_LETTERS = "prtecbfx";

/** The stored-snapshot form of a state (see `StoredGovernorState`). */
export function encodeSnapshotState(state: GovernorState): StoredGovernorState {
  const ids: string[] = [];
  const actionIds: string[] = [];
  const letters: string[] = [];
  const codes: Record<string, string> = {};
  for (const [id, o] of state.signals) {
    if (o.code !== undefined) codes[ids.length] = o.code;
    ids.push(id);
    actionIds.push(o.actionId ?? "");
    letters.push(OUTCOME_LETTERS[OUTCOME_STATES.indexOf(o.state)]!);
  }
  const { signals: _columns, ...rest } = serializeState({ ...state, signals: new Map() });
  return { ...rest, signals: { ids, actionIds, states: letters.join(""), codes } };
}

/** The state a stored snapshot holds. @throws {ReplayDivergenceError} when its signal columns do not line up. */
export function decodeSnapshotState(stored: StoredGovernorState): GovernorState {
  const { ids, actionIds, states, codes } = stored.signals;
  if (actionIds.length !== ids.length || states.length !== ids.length) {
    throw new ReplayDivergenceError(`snapshot of ${stored.account}: ${ids.length} signal ids, ${actionIds.length} action ids, ${states.length} states`);
  }
  const state = deserializeState({ ...stored, signals: [] });
  const signals = state.signals;
  for (let i = 0; i < ids.length; i++) {
    const at = OUTCOME_LETTERS.indexOf(states[i]!);
    if (at < 0) throw new ReplayDivergenceError(`snapshot of ${stored.account}: unknown outcome letter "${states[i]}"`);
    const outcome: SignalOutcome = { actionId: actionIds[i] === "" ? null : actionIds[i]!, state: OUTCOME_STATES[at]! };
    const code = codes[i];
    if (code !== undefined) outcome.code = code;
    signals.set(ids[i]!, outcome);
  }
  return state;
}

/** Resolves the state's policy view (null before provisioning or for an unknown version). */
export function resolveStatePolicy(state: GovernorState, resolve: PolicyResolver): PolicyView | null {
  if (state.skuId === null || state.policyVersion === null) return null;
  return resolve(state.skuId, state.policyVersion) ?? null;
}
