/**
 * A failure inside one tenant's path takes that tenant out of service, never
 * the process: a governor that throws while deciding, a ledger whose chain
 * does not link, a ledger that does not replay. Each ends in an alert and a
 * platform receipt naming the tenant and the code; the other tenants go on;
 * the tenant comes back after a rebuild from its ledger. Also: a signal whose
 * receipt cannot be made durable in time is answered `not_durable` at once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import type { PolicyCatalog } from "../../src/policy/registry.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import type { Clock, LedgerStore } from "../../src/ports/index.ts";
import type { Governors, QuarantineCode } from "../../src/app/governors.ts";
import { startHost } from "../support/host-rig.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { createMemoryLedgerStore } from "../../src/adapters/memory/memory-ledger-store.ts";

const policySource = {
  sku_id: "q",
  policy_version: "1.0.0",
  actions: { noop: { handler: "noop", timeout_ms: 5_000 } },
  plans: { p: { monthly_actions: 1000, concurrent_actions: 4, max_concurrency: 4, cost_per_slot_usd: "1.00", actions: ["noop"] } },
};
const policy = { doc: PolicyDocument.parse(policySource), source: policySource };

interface Events {
  quarantined: { account: string; code: QuarantineCode; reason: string }[];
  restored: { account: string; trigger: string; refused: number }[];
  alerts: { code: string; ledger?: string }[];
}

interface Rig extends Events {
  host: Governors;
  catalog: PolicyCatalog;
  store: LedgerStore;
  dir: string;
}
const rigs: Rig[] = [];

async function rig(options: { dir?: string; store?: LedgerStore; clock?: Clock; signalDurableMs?: number } = {}): Promise<Rig> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "governor-quarantine-"));
  const store = options.store ?? createSqliteLedgerStore({ path: join(dir, "ledger.sqlite") });
  const events: Events = { quarantined: [], restored: [], alerts: [] };
  const { host, catalog } = await startHost({
    store,
    policy: policy.doc,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    alerts: { alert: (a) => events.alerts.push(a) },
    host: (catalog) => ({
      ...(options.signalDurableMs === undefined ? {} : { signalDurableMs: options.signalDurableMs }),
      currentPolicy: (sku) => catalog.current(sku),
      onQuarantined: (account, code, reason) => events.quarantined.push({ account, code, reason }),
      onRestored: (account, trigger, _ms, refused) => events.restored.push({ account, trigger, refused }),
    }),
  });
  const r: Rig = { host, catalog, store, dir, ...events };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.host.stop({ drainMs: 0 }).catch(() => {});
    await r.store.close().catch(() => {});
    rmSync(r.dir, { recursive: true, force: true });
  }
});

async function provision(r: Rig, account: string): Promise<void> {
  await r.host.provision(account, { eventId: `e-${account}`, entitlementId: `ent-${account}`, skuId: "q", plan: "p", policyVersion: "1.0.0", concurrency: 4, channel: `ch-${account}`, durationMs: 0 });
}

/** Params nested `depth` arrays deep: JSON that canonicalization cannot take. */
function nested(depth: number): Record<string, unknown> {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return { deep: v };
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setImmediate(r));
};

describe("a fault in one governor's decision", () => {
  it("quarantines that tenant alone: the caller hears so, an alert and the hook name the tenant and the code, the others go on, and it comes back rebuilt", async () => {
    const r = await rig();
    await provision(r, "victim");
    await provision(r, "bystander");
    const sizeBefore = (await r.store.head("victim" as LedgerId)).size;

    const reply = await r.host.signal("victim", { signal_id: "poison", action: "noop", params: nested(100_000) }, 10);
    expect(reply).toEqual({ kind: "unavailable", reason: "quarantined" });
    expect(r.quarantined).toEqual([{ account: "victim", code: "decision_failed", reason: expect.stringMatching(/\S/) as unknown as string }]);
    expect(r.alerts.filter((a) => a.code === "tenant_quarantined").map((a) => a.ledger)).toEqual(["victim"]);

    // Another tenant is untouched.
    expect(await r.host.signal("bystander", { signal_id: "b1", action: "noop", params: {} }, 2)).toMatchObject({ kind: "accepted" });

    // The automatic rebuild brings the tenant back from its ledger; the poison left nothing there.
    await until(() => r.restored.length > 0);
    expect(r.restored).toEqual([{ account: "victim", trigger: "automatic", refused: 0 }]);
    expect(r.host.isQuarantined("victim")).toBe(false);
    expect((await r.store.head("victim" as LedgerId)).size).toBe(sizeBefore);
    expect(await r.host.signal("victim", { signal_id: "v1", action: "noop", params: {} }, 2)).toMatchObject({ kind: "accepted" });
  });

  it("a tenant that fails again soon after its automatic rebuild waits for an operator, refusing signals meanwhile", async () => {
    const r = await rig();
    await provision(r, "flaky");
    await r.host.signal("flaky", { signal_id: "p1", action: "noop", params: nested(100_000) }, 10);
    await until(() => r.restored.length === 1);
    expect(await r.host.signal("flaky", { signal_id: "p2", action: "noop", params: nested(100_000) }, 10)).toEqual({ kind: "unavailable", reason: "quarantined" });
    expect(r.quarantined).toHaveLength(2);
    expect(r.host.status("flaky")).toMatchObject({ state: "quarantined", quarantine: { code: "decision_failed" } });
    expect(await r.host.signal("flaky", { signal_id: "s1", action: "noop", params: {} }, 2)).toEqual({ kind: "unavailable", reason: "quarantined" });
    expect(r.restored).toHaveLength(1);

    // A policy pushed meanwhile reaches the governors in service; the quarantined one gets it once it is back.
    const next = r.catalog.add(PolicyDocument.parse({ ...policy.source, policy_version: "1.1.0" }));
    await r.host.offerPolicy(next, false);
    expect(r.host.status("flaky")?.policy_version).toBe("1.0.0");

    expect(await r.host.restore("flaky", "operator")).toBe(true);
    expect(r.restored[1]).toEqual({ account: "flaky", trigger: "operator", refused: 1 });
    expect(r.host.status("flaky")?.policy_version).toBe("1.1.0");
    await r.host.log.flush();
    const tail = await r.store.read("flaky" as LedgerId, 0, 100);
    expect(tail.at(-1)).toMatchObject({ operation: "policy_upgraded", previous_version: "1.0.0", policy_version: "1.1.0" });
    expect(await r.host.signal("flaky", { signal_id: "s2", action: "noop", params: {} }, 2)).toMatchObject({ kind: "accepted" });
  });
});

describe("a ledger that does not replay", () => {
  it("a chain that does not link quarantines its tenant at start (chain_broken); the other tenants start and run", async () => {
    const first = await rig();
    await provision(first, "broken");
    await provision(first, "fine");
    for (let i = 0; i < 3; i++) await first.host.signal("broken", { signal_id: `s${i}`, action: "noop", params: {} }, 2);
    await first.host.stop({ drainMs: 1_000 });
    await first.store.close();
    rigs.splice(rigs.indexOf(first), 1);
    // Another writer rewrote a receipt's prev_hash in place: the stored chain no longer links.
    const db = new DatabaseSync(join(first.dir, "ledger.sqlite"));
    const row = db.prepare("SELECT body FROM receipts WHERE ledger = ? AND seq = 2").get("broken") as { body: string };
    const tampered = row.body.replace(/"prev_hash":"[0-9a-f]{64}"/, `"prev_hash":"${"0".repeat(64)}"`);
    expect(tampered).not.toBe(row.body);
    db.prepare("UPDATE receipts SET body = ? WHERE ledger = ? AND seq = 2").run(tampered, "broken");
    db.prepare("DELETE FROM snapshots").run();
    db.close();

    const second = await rig({ dir: first.dir });
    expect(second.quarantined.map((q) => [q.account, q.code])).toEqual([["broken", "chain_broken"]]);
    expect(second.host.status("broken")).toMatchObject({ state: "quarantined" });
    expect(await second.host.signal("broken", { signal_id: "x", action: "noop", params: {} }, 2)).toEqual({ kind: "unavailable", reason: "quarantined" });
    expect(await second.host.signal("fine", { signal_id: "y", action: "noop", params: {} }, 2)).toMatchObject({ kind: "accepted" });
    // An operator's rebuild of a ledger that still does not link fails, and the tenant stays out.
    await expect(second.host.restore("broken", "operator")).rejects.toThrow(/does not link/);
    expect(second.host.isQuarantined("broken")).toBe(true);
  });
});

describe("a signal whose receipt cannot be made durable in time", () => {
  it("is answered not_durable at its deadline, before safe mode, instead of waiting on the store", async () => {
    const memory = createMemoryLedgerStore();
    let hang = false;
    const held: (() => void)[] = [];
    const store: LedgerStore = {
      ...memory,
      appendMany: (b) =>
        hang
          ? new Promise((resolve, reject) => {
              held.push(() => void memory.appendMany(b).then(resolve, reject));
            })
          : memory.appendMany(b),
    };
    const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
    const r = await rig({ store, clock, signalDurableMs: 1_000 });
    await provision(r, "slow");
    hang = true;
    let answer: unknown = null;
    void r.host.signal("slow", { signal_id: "s1", action: "noop", params: {} }, 2).then((a) => (answer = a));
    await new Promise((res) => setImmediate(res));
    clock.advance(999);
    await new Promise((res) => setImmediate(res));
    expect(answer).toBeNull();
    clock.advance(1);
    await until(() => answer !== null);
    expect(answer).toEqual({ kind: "unavailable", reason: "not_durable" });
    // The store answers late: the receipt lands, and a repeat of the signal id returns its outcome.
    hang = false;
    for (const release of held.splice(0)) release();
    await r.host.log.flush();
    expect(await r.host.signal("slow", { signal_id: "s1", action: "noop", params: {} }, 2)).toMatchObject({ kind: "duplicate" });
  });
});
