/**
 * The snapshot codec: a governor's state as JSON, to store beside its ledger
 * and read back instead of replaying every receipt. The lifecycle state is
 * stored beside it (`value` in the stored snapshot), the drain not at all.
 */
import { initialBilling, type BillingState } from "./billing.ts";
import { initialMarketplaceFacts, queued, ReplayDivergenceError, type GovernorState, type LastScale, type MarketplaceFacts, type OpenAction, type SignalOutcome } from "./state.ts";
import type { Phase } from "./statechart.ts";

/** Bumped whenever the snapshot layout or the meaning of a governor's state changes: older snapshots are then ignored. */
export const SNAPSHOT_VERSION = "governor-snapshot/3";

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
  /** Absent when nothing of it is set. */
  readonly marketplace?: MarketplaceFacts;
  /** Absent for a tenant not billed through Service Control. */
  readonly billing?: BillingState;
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
    ...(isInitialMarketplace(state.marketplace) ? {} : { marketplace: { ...state.marketplace } }),
    ...(state.billing === initialBilling ? {} : { billing: structuredClone(state.billing) }),
    lastSeq: state.lastSeq,
    lastHash: state.lastHash,
  };
}

function isInitialMarketplace(m: MarketplaceFacts): boolean {
  return m.procurementAccountId === null && !m.pendingCancellation && m.offer === null;
}

/** The state a serialized copy holds, in `phase` (the copy does not carry its lifecycle state). */
export function deserializeState(s: SerializedGovernorState, phase: Phase = "new"): GovernorState {
  return {
    account: s.account,
    phase,
    cancel: null,
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
    quotaNotedAt: null,
    marketplace: s.marketplace === undefined ? initialMarketplaceFacts() : { ...s.marketplace },
    billing: s.billing === undefined ? initialBilling : structuredClone(s.billing),
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
  /** Absent in snapshots written before the scaler's window was durable. */
  readonly quotaNotedAt?: number | null;
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
  return { ...rest, ...(state.quotaNotedAt === null ? {} : { quotaNotedAt: state.quotaNotedAt }), signals: { ids, actionIds, states: letters.join(""), codes } };
}

/** The state a stored snapshot holds, in `phase`. @throws {ReplayDivergenceError} when its signal columns do not line up. */
export function decodeSnapshotState(stored: StoredGovernorState, phase: Phase = "new"): GovernorState {
  const { ids, actionIds, states, codes } = stored.signals;
  if (actionIds.length !== ids.length || states.length !== ids.length) {
    throw new ReplayDivergenceError(`snapshot of ${stored.account}: ${ids.length} signal ids, ${actionIds.length} action ids, ${states.length} states`);
  }
  const state = deserializeState({ ...stored, signals: [] }, phase);
  state.quotaNotedAt = stored.quotaNotedAt ?? null;
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

