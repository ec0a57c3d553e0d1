/**
 * Records ledgers of the runtime's workflows, each written by a real governor
 * host (test/support/host-rig.ts) on a memory store and a manual clock, with
 * the state each must rebuild to: policy (upgrade, then rollback), scaling
 * (lag, revert, operator, quota), safe mode (a tenant's outage as fencing
 * recovery writes it), timeouts (with and without a rollback), and a cancel
 * whose drain expires. `record.ts` records the statechart-level ledgers.
 *
 * Receipt and action ids are drawn afresh on every run, so a recording is
 * written only when its files are missing or it is named; name one only when
 * a change is meant to change what it rebuilds to, and review the diff:
 *
 *   node test/replay/record-workflows.ts [policy scaling safe-mode timeouts cancel-drain-expired]
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLedgerStore } from "../../src/adapters/memory/memory-ledger-store.ts";
import { builtinHandlers, type ActionHandler } from "../../src/app/handlers.ts";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import type { PolicyDocument } from "../../src/policy/schema.ts";
import type { LedgerStore } from "../../src/ports/index.ts";
import { endsAction } from "../support/ends.ts";
import { testPolicyDocument } from "../support/governor-spec.ts";
import { startHost } from "../support/host-rig.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { eventually } from "../support/service.ts";
import { rebuiltState } from "./rebuild.ts";
import { deadlinesPolicy, demoOneActionAMonth, demoPermitsForbidden, RecordedHandler, scaledPolicy } from "./recorded-policies.ts";

const dir = join(import.meta.dirname, "ledgers");
const ACCOUNT = "acct-1" as LedgerId;
const T0 = Date.parse("2026-11-24T10:00:00.000Z");

/** Runs of the `held` handler under way: each finishes when its entry is called. */
const heldRuns: (() => void)[] = [];
const handlers = new Map<string, ActionHandler>([
  ...builtinHandlers,
  [RecordedHandler.held, { name: RecordedHandler.held, run: () => new Promise((res) => void heldRuns.push(() => res({}))), rollback: async () => {} }],
  [RecordedHandler.hangs, { name: RecordedHandler.hangs, run: () => new Promise(() => {}), rollback: async () => {} }],
]);

type Host = Awaited<ReturnType<typeof startHost>>["host"];
interface Rig {
  readonly host: Host;
  readonly store: LedgerStore;
  readonly clock: ManualClock;
  readonly catalog: Awaited<ReturnType<typeof startHost>>["catalog"];
}

const rigs: Rig[] = [];
async function rig(policy: PolicyDocument, store: LedgerStore = createMemoryLedgerStore(), clock = new ManualClock(T0)): Promise<Rig> {
  const { host, catalog } = await startHost({ store, policy, clock, handlers, alerts: { alert: () => {} } });
  const r = { host, store, clock, catalog };
  rigs.push(r);
  return r;
}

const ledgerOf = (r: Rig) => r.store.read(ACCOUNT, 0, 10_000);
const turn = () => new Promise<void>((res) => setImmediate(res));

/** Until the ledger has stopped growing for a few turns of the event loop: what was decided is committed. */
async function quiet(r: Rig): Promise<readonly Receipt[]> {
  let last: readonly Receipt[] = await ledgerOf(r);
  for (let same = 0; same < 5; ) {
    await turn();
    const now = await ledgerOf(r);
    same = now.length === last.length ? same + 1 : 0;
    last = now;
  }
  return last;
}

async function until(r: Rig, check: (ledger: readonly Receipt[]) => boolean, what: string): Promise<void> {
  await eventually(async () => check(await ledgerOf(r)), what, 10_000);
}

const mine = (ledger: readonly Receipt[], signalId: string) => ledger.filter((x) => "signal_id" in x && x.signal_id === signalId);
const ended = (r: Rig, signalId: string) => until(r, (l) => mine(l, signalId).some(endsAction), `the end of ${signalId}`);
const has = (r: Rig, operation: string, count = 1) => until(r, (l) => l.filter((x) => x.operation === operation).length >= count, `${count} ${operation}`);

async function provision(r: Rig, skuId: string, plan: string, concurrency: number): Promise<void> {
  await r.host.provision(ACCOUNT, { eventId: "evt-1", entitlementId: "ent-1", skuId, plan, policyVersion: "1.0.0", concurrency, channel: `tenants.${ACCOUNT}.signals`, durationMs: 3 });
}

async function take(r: Rig, signalId: string, action: string): Promise<string> {
  return (await r.host.signal(ACCOUNT, { signal_id: signalId, action, params: {} }, 2)).kind;
}

/** Upgraded to a version that permits more, then offered one whose month is shorter than this tenant's use: it keeps the version it has. */
async function policy(): Promise<readonly Receipt[]> {
  const r = await rig(testPolicyDocument);
  await provision(r, "demo", "basic", 2);
  await take(r, "s1", "noop");
  await ended(r, "s1");
  await r.host.offerPolicy(r.catalog.add(demoPermitsForbidden), false);
  await take(r, "s2", "forbidden");
  await ended(r, "s2");
  r.clock.advance(1000);
  await r.host.offerPolicy(r.catalog.add(demoOneActionAMonth), false);
  await take(r, "s3", "noop");
  await ended(r, "s3");
  return quiet(r);
}

/** Lag scales up; lag that did not fall reverts it; an operator scales; lag over the plan's maximum is a quota refusal; then the queue drains. */
async function scaling(): Promise<readonly Receipt[]> {
  const r = await rig(scaledPolicy);
  await provision(r, "scaled", "team", 1);
  for (const s of ["w1", "w2", "w3", "w4"]) await take(r, s, "work");
  r.clock.advance(2000);
  r.host.scaleTick();
  await has(r, "governor_scaled");
  await has(r, "action_started", 2);
  for (const s of ["w5", "w6"]) await take(r, s, "work");
  r.clock.advance(10_000);
  r.host.scaleTick();
  await has(r, "governor_scaled", 2);
  await r.host.scale(ACCOUNT, 2, "operator");
  r.clock.advance(10_000);
  r.host.scaleTick();
  await has(r, "quota_exceeded");
  for (let done = 0; done < 6; ) {
    await eventually(() => heldRuns.length > 0, "a held action", 10_000);
    done += heldRuns.length;
    for (const finish of heldRuns.splice(0)) finish();
    await has(r, "action_complete", done);
  }
  return quiet(r);
}

/** Two runtimes on one store: the one that lost an append is fenced, rebuilt, and writes the tenant's outage on its ledger. */
async function safeMode(): Promise<readonly Receipt[]> {
  const store = createMemoryLedgerStore();
  const clock = new ManualClock(T0);
  const a = await rig(testPolicyDocument, store, clock);
  await provision(a, "demo", "basic", 2);
  const b = await rig(testPolicyDocument, store, clock);
  await take(b, "s-b", "noop");
  await ended(b, "s-b");
  clock.advance(100);
  await take(a, "s-a", "noop");
  await has(a, "degraded_mode_cleared");
  await eventually(async () => a.host.has(ACCOUNT) && (await take(a, "s-a2", "noop")) === "accepted", "the rebuilt runtime to take a signal", 10_000);
  await ended(a, "s-a2");
  return quiet(a);
}

/** An action past its deadline with a rollback (rolled back), and one without. */
async function timeouts(): Promise<readonly Receipt[]> {
  const r = await rig(deadlinesPolicy);
  await provision(r, "deadlines", "p", 2);
  await take(r, "t1", "hang");
  r.clock.advance(500);
  await ended(r, "t1");
  await take(r, "t2", "hang_unrolled");
  r.clock.advance(500);
  await until(r, (l) => mine(l, "t2").some((x) => x.operation === "action_timeout"), "the timeout of t2");
  return quiet(r);
}

/** A cancel while an action runs: the drain expires before the action ends, and the decommission goes on. */
async function cancelDrainExpired(): Promise<readonly Receipt[]> {
  const r = await rig(deadlinesPolicy);
  await provision(r, "deadlines", "p", 2);
  await take(r, "c1", "long");
  r.clock.advance(100);
  const cancelled = r.host.cancel(ACCOUNT, { eventId: "evt-c", entitlementId: "ent-1", drainMs: 1000 });
  await quiet(r);
  r.clock.advance(1000);
  await cancelled;
  return quiet(r);
}

const workflows: Record<string, () => Promise<readonly Receipt[]>> = {
  policy,
  scaling,
  "safe-mode": safeMode,
  timeouts,
  "cancel-drain-expired": cancelDrainExpired,
};

const named = process.argv.slice(2);
for (const name of named) if (!(name in workflows)) throw new Error(`no workflow named ${name}; known: ${Object.keys(workflows).join(", ")}`);
try {
  for (const [name, record] of Object.entries(workflows)) {
    const file = join(dir, `${name}.jsonl`);
    if (named.length > 0 ? !named.includes(name) : existsSync(file)) continue;
    const ledger = await record();
    writeFileSync(file, ledger.map((r) => `${JSON.stringify(r)}\n`).join(""));
    writeFileSync(join(dir, `${name}.state.json`), `${JSON.stringify(rebuiltState(ledger), null, 2)}\n`);
    process.stdout.write(`${name}: ${ledger.length} receipts (${ledger.map((r) => r.operation).join(", ")})\n`);
  }
} finally {
  for (const r of rigs.splice(0)) await r.host.stop({ drainMs: 0 }).catch(() => {});
}
