/**
 * Given (receipts so far) / when (command) / then (receipts written) for the
 * tenant governor, on XState's SimulatedClock: no test sleeps for real.
 */
import { SimulatedClock, createActor } from "xstate";
import type { Effect } from "../../governors/decide.ts";
import type { PolicyView } from "../../governors/policy-view.ts";
import { initialGovernorState } from "../../governors/governor-state.ts";
import { replay, restoreSnapshot, type LifecycleState } from "../../governors/replay.ts";
import { tenantGovernor, type GovernorEvent } from "../../governors/tenant-governor.ts";
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

export interface Spec {
  readonly clock: SimulatedClock;
  /** Everything recorded by `when`, sealed, in order. */
  readonly recorded: Receipt[];
  readonly effects: Effect[];
  readonly ledger: Receipt[];
  state(): LifecycleState;
  snapshot(): ReturnType<ReturnType<typeof createActor<typeof tenantGovernor>>["getSnapshot"]>;
  /** Sends commands (their `now` is the simulated clock's unless given). */
  when(...events: GovernorEvent[]): Spec;
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
  const initial = replay(restoreSnapshot({ account: ACCOUNT, resolvePolicy, limits, state: initialGovernorState(ACCOUNT) }, "new"), ledger);
  const recorded: Receipt[] = [];
  const effects: Effect[] = [];
  const keep = (_: unknown, e: Effect) => void effects.push(e);
  const machine = tenantGovernor.provide({
    actions: {
      record: ({ self }, draft: ReceiptDraft) => {
        const r = seal(draft);
        recorded.push(r);
        self.send({ type: "RECORDED", receipt: r, now: clock.now() });
      },
      runHandler: keep,
      abortHandler: keep,
      runRollback: keep,
      armDeadline: keep,
      cancelDeadline: keep,
      reply: keep,
      alert: keep,
      armDrainDeadline: keep,
      exportArchive: keep,
      deleteChannel: keep,
    },
  });
  const actor = createActor(machine, { input: { account: ACCOUNT, resolvePolicy, limits }, snapshot: initial, clock });
  actor.start();
  const spec: Spec = {
    clock,
    recorded,
    effects,
    ledger,
    state: () => actor.getSnapshot().value as LifecycleState,
    snapshot: () => actor.getSnapshot(),
    when(...events) {
      for (const e of events) actor.send(e);
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
export function signal(spec: Spec, signalId: string, action: string, params: Record<string, unknown> = {}): GovernorEvent {
  return { type: "SIGNAL", signal_id: signalId, action, params, paramsBytes: JSON.stringify(params).length, actionId: spec.nextId(), now: spec.clock.now() };
}

/** The operations recorded, in order: the compact "then". */
export const ops = (spec: Spec): string[] => spec.recorded.map((r) => r.operation);
