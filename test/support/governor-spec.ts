/**
 * Given (receipts so far) / when (command) / then (receipts written) for the
 * tenant governor, through `run` (governors/governor.ts), the loop the
 * runtime runs: decide, seal, apply, react. A simulated clock: no test sleeps
 * for real, and no timers run.
 */
import { SimulatedClock } from "xstate";
import type { Command, Effect } from "../../governors/decision.ts";
import { run } from "../../governors/governor.ts";
import type { PolicyView } from "../../governors/policy-view.ts";
import { replay } from "../../governors/replay.ts";
import { initialGovernorState, resolveStatePolicy, type GovernorState } from "../../governors/state.ts";
import type { Phase } from "../../governors/statechart.ts";
import { genesisHash, sealReceipt, uuidV7 } from "../../src/ledger/hash.ts";
import type { Receipt, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";

export const T0 = Date.parse("2026-11-24T10:00:00.000Z");

/** A small policy: plan `basic` (2 slots, 5 actions a month) permits `noop` and `slow`; `forbidden` is defined but not permitted. */
export const testPolicyDocument = PolicyDocument.parse({
  sku_id: "demo",
  policy_version: "1.0.0",
  actions: {
    noop: { handler: "noop", params_schema: { type: "object", properties: { n: { type: "integer" } }, additionalProperties: false } },
    slow: { handler: "noop", timeout_ms: 500 },
    fragile: { handler: "noop", timeout_ms: 500, rollback: "none" },
    forbidden: { handler: "noop" },
  },
  plans: {
    basic: { monthly_actions: 5, concurrent_actions: 2, max_concurrency: 4, cost_per_slot_usd: "0.50", actions: ["noop", "slow", "fragile"] },
  },
});

export const testPolicy: PolicyView = compilePolicy(testPolicyDocument);

export const ACCOUNT = "acct-1";

export function provisionDraft(overrides: Partial<{ plan: string; concurrency: number }> = {}): ReceiptDraft {
  return {
    operation: "entitlement_active",
    status: "success",
    duration_ms: 3,
    event_id: "evt-1",
    entitlement_id: "ent-1",
    sku_id: "demo",
    plan: overrides.plan ?? "basic",
    policy_version: "1.0.0",
    concurrency: overrides.concurrency ?? 2,
    channel: "tenants.acct-1.signals",
  };
}

type WithoutNow<C> = C extends unknown ? Omit<C, "now"> & { now?: number } : never;
/** A command as a spec sends it: `now` defaults to the simulated clock. */
export type SpecCommand = WithoutNow<Command>;

export interface Spec {
  readonly clock: SimulatedClock;
  /** Everything recorded by `when`, sealed, in order. */
  readonly recorded: Receipt[];
  readonly effects: Effect[];
  readonly ledger: Receipt[];
  state(): Phase;
  /** The governor's state and the policy it runs under. */
  snapshot(): { value: Phase; context: { gov: GovernorState; policy: PolicyView | null } };
  /** Sends commands (their `now` is the simulated clock's unless given). */
  when(...commands: SpecCommand[]): Spec;
  /** Clears what was recorded so far (the next `when` starts afresh). */
  reset(): Spec;
  nextId(): string;
}

/** Builds a governor from the given receipts (sealed here, in order) and returns a spec to drive it. */
export function given(drafts: ReceiptDraft[], options: { policy?: PolicyView; policies?: PolicyView[]; now?: number; held?: () => boolean } = {}): Spec {
  const clock = new SimulatedClock();
  clock.set(options.now ?? T0);
  const policy = options.policy ?? testPolicy;
  const known = [policy, ...(options.policies ?? [])];
  const resolvePolicy = (sku: string, version: string) => known.find((p) => p.skuId === sku && p.version === version);
  const ledger: Receipt[] = [];
  let counter = 0;
  const nextId = () => uuidV7(T0, new Uint8Array(10).fill(0).map((_, i) => (i === 9 ? counter++ & 0xff : i === 8 ? (counter >> 8) & 0xff : 0)));
  const seal = (draft: ReceiptDraft): Receipt => {
    const prev = ledger.at(-1);
    const r = sealReceipt(draft, {
      ledger: ACCOUNT,
      seq: ledger.length,
      prevHash: prev?.hash ?? genesisHash(ACCOUNT),
      timestamp: new Date(clock.now()).toISOString(),
      receiptId: nextId(),
      accountId: ACCOUNT,
    });
    ledger.push(r);
    return r;
  };
  for (const d of drafts) seal(d);
  const limits = { maxParamsBytes: 1024, ...(options.held ? { held: options.held } : {}) };
  const state = replay(initialGovernorState(ACCOUNT), ledger);
  const recorded: Receipt[] = [];
  const effects: Effect[] = [];
  const policyOf = (s: GovernorState) => resolveStatePolicy(s, resolvePolicy);
  const env = {
    policyOf,
    limits,
    seal: (draft: ReceiptDraft) => {
      const r = seal(draft);
      recorded.push(r);
      return r;
    },
  };
  const spec: Spec = {
    clock,
    recorded,
    effects,
    ledger,
    state: () => state.phase,
    snapshot: () => ({ value: state.phase, context: { gov: state, policy: policyOf(state) } }),
    when(...commands) {
      for (const c of commands) effects.push(...run(state, { ...c, now: c.now ?? clock.now() } as Command, env));
      return spec;
    },
    reset() {
      recorded.length = 0;
      effects.length = 0;
      return spec;
    },
    nextId,
  };
  return spec;
}

/** A SIGNAL command at the spec's simulated time. */
export function signal(spec: Spec, signalId: string, action: string, params: Record<string, unknown> = {}): SpecCommand {
  return { type: "SIGNAL", signal_id: signalId, action, params, paramsBytes: JSON.stringify(params).length, actionId: spec.nextId(), now: spec.clock.now() };
}

/** The operations recorded, in order: the compact "then". */
export const ops = (spec: Spec): string[] => spec.recorded.map((r) => r.operation);
