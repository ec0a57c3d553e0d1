/**
 * A governor's state and the one function that applies a receipt to it:
 * `evolve`, a fold step over receipts. Live (through `apply`) and on replay
 * the same function applies the same receipts, so a rebuilt governor is the
 * governor that was running.
 *
 * For speed the maps are updated in place (a governor applies tens of
 * thousands of receipts a second); a snapshot for persistence is taken with
 * `serializeState` (snapshot.ts), which copies.
 */
import type { Receipt } from "../src/ledger/receipt.ts";
import { isTerminal, nextActionState, type ActionLifecycleEvent, type ActionState } from "./action-lifecycle.ts";
import { evolveBilling, initialBilling, type BillingState } from "./billing.ts";
import type { PolicyResolver, PolicyView } from "./policy-view.ts";
import { phaseAfter, type Phase } from "./statechart.ts";
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

/** A cancel being drained: what `decommission_start` and `decommission_complete` will name. */
export interface CancelRequest {
  readonly eventId: string;
  readonly entitlementId: string;
  readonly requestedAt: number;
  /** Actions holding a slot when the cancel arrived. */
  readonly inFlight: number;
}

/** What Google Cloud Marketplace told of the tenant's entitlement (all null or false for other marketplaces). */
export interface MarketplaceFacts {
  /** The procurement account the entitlement belongs to. */
  procurementAccountId: string | null;
  /** The customer asked to cancel: service continues until the entitlement is cancelled. */
  pendingCancellation: boolean;
  /** A private offer accepted for a future start: provisioned at `startsAt` (epoch ms). */
  offer: ScheduledOffer | null;
}

export interface ScheduledOffer {
  readonly eventId: string;
  readonly startsAt: number;
  readonly skuId: string;
  readonly plan: string;
}

export interface GovernorState {
  readonly account: string;
  /** Where the governor is in its lifecycle (see statechart.ts). */
  phase: Phase;
  /** Set while draining (not durable: a cancel that a crash interrupts is delivered again). */
  cancel: CancelRequest | null;
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
  /** Epoch ms of the last `quota_exceeded` the scaler recorded: it notes a ceiling once a window, not every tick. */
  quotaNotedAt: number | null;
  /** Google Cloud Marketplace facts about the entitlement. */
  marketplace: MarketplaceFacts;
  /** Where usage billing to Service Control stands (see billing.ts). */
  billing: BillingState;
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
    phase: "new",
    cancel: null,
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
    quotaNotedAt: null,
    marketplace: initialMarketplaceFacts(),
    billing: initialBilling,
    lastSeq: -1,
    lastHash: null,
  };
}

export function initialMarketplaceFacts(): MarketplaceFacts {
  return { procurementAccountId: null, pendingCancellation: false, offer: null };
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
 * Applies one receipt to the state (in place) and returns it: the only code
 * that does. Throws ReplayDivergenceError when the receipt is not a legal
 * next step.
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
      state.marketplace = { procurementAccountId: receipt.procurement_account_id ?? null, pendingCancellation: false, offer: null };
      state.billing = evolveBilling(state.billing, receipt);
      break;
    case "usage_reported":
      state.billing = evolveBilling(state.billing, receipt);
      break;
    case "entitlement_approval":
      state.entitlementId ??= receipt.entitlement_id;
      state.marketplace.procurementAccountId = receipt.procurement_account_id;
      break;
    case "entitlement_offer_scheduled":
      state.entitlementId ??= receipt.entitlement_id;
      state.marketplace.procurementAccountId = receipt.procurement_account_id;
      state.marketplace.offer = { eventId: receipt.event_id, startsAt: parseTimestamp(receipt.starts_at), skuId: receipt.sku_id, plan: receipt.plan };
      break;
    case "entitlement_cancellation_pending":
      state.marketplace.pendingCancellation = true;
      break;
    case "entitlement_cancellation_reverted":
      state.marketplace.pendingCancellation = false;
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
    case "quota_exceeded":
      if (receipt.reason === "lag") state.quotaNotedAt = parseTimestamp(receipt.timestamp);
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
    case "decommission_start":
      // From here the cancel is durable: what `decommission_complete` names comes from this receipt.
      state.cancel = {
        eventId: receipt.event_id,
        entitlementId: receipt.entitlement_id,
        requestedAt: parseTimestamp(receipt.timestamp) - receipt.duration_ms,
        inFlight: receipt.in_flight,
      };
      break;
    case "decommission_complete":
      state.cancel = null;
      state.marketplace.pendingCancellation = false;
      break;
    default:
      // Other receipts record without changing the bookkeeping; platform receipts do not reach a governor.
      break;
  }
  state.phase = phaseAfter(state.phase, receipt);
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

/** True when an action waits in the queue and a slot is free for it. */
export function canStartQueued(state: GovernorState): boolean {
  return state.queue.length > state.queueHead && state.busy < state.concurrency;
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

/** Resolves the state's policy view (null before provisioning or for an unknown version). */
export function resolveStatePolicy(state: GovernorState, resolve: PolicyResolver): PolicyView | null {
  if (state.skuId === null || state.policyVersion === null) return null;
  return resolve(state.skuId, state.policyVersion) ?? null;
}
