/**
 * Marketplace events happen once, against the real service on the embedded
 * store: a signed webhook captured and sent again after the process was
 * killed (same webhook id, timestamp within the tolerance) gets its first
 * outcome back and changes nothing; an event older than one already applied
 * to its entitlement is recorded and ignored; a delivery claimed by a
 * process that died before its outcome was stored is decided again against
 * the tenant's state, never done twice.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { entitlementEvent, readLedger, startService, type Service } from "../support/service.ts";

const env = { GOVERNOR_DRAIN_MS: "1000" };
const started: Service[] = [];
const start = async (dataDir?: string) => {
  const s = await startService({ env, ...(dataDir === undefined ? {} : { dataDir }) });
  started.push(s);
  return s;
};
afterAll(async () => {
  for (const s of started) await s.kill();
});
/** One service for the tests that need no restart (tenants of their own each). */
let sharedService: Promise<Service> | null = null;
const shared = () => (sharedService ??= start());

const json = async (res: Response) => (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
const tenant = async (s: Service, account: string) => json(await s.request("GET", `/v1/tenants/${account}`, { token: s.credentials.tokens.operator }));

/** A signed delivery kept as an attacker would capture it: the same bytes, id and timestamp can be sent again. */
interface Captured {
  readonly event: ReturnType<typeof entitlementEvent>;
  readonly id: string;
  readonly timestamp: Date;
}
const capture = (event: ReturnType<typeof entitlementEvent>, timestamp = new Date()): Captured => ({ event, id: `msg_${randomUUID()}`, timestamp });
const send = (s: Service, c: Captured) => s.webhook(c.event, { id: c.id, timestamp: c.timestamp });

describe("a captured webhook sent again after a restart", () => {
  it("ENTITLEMENT_ACTIVE after a cancel: the first outcome comes back, the tenant stays decommissioned, its ledger is unchanged", async () => {
    const first = await start();
    const active = capture(entitlementEvent("ENTITLEMENT_ACTIVE", "replay-active", { plan: "starter" }));
    const provisioned = await send(first, active);
    expect(provisioned.status).toBe(201);
    const firstOutcome = await json(provisioned);
    const cancelled = await first.webhook(entitlementEvent("ENTITLEMENT_CANCELLED", "replay-active"));
    expect(cancelled.status).toBe(200);
    expect(await tenant(first, "replay-active")).toMatchObject({ state: "decommissioned" });
    const ledger = await readLedger(first, "replay-active");
    expect(ledger.at(-1)).toMatchObject({ operation: "decommission_complete" });
    await first.kill("SIGKILL");

    const second = await start(first.dataDir);
    const replayed = await send(second, active);
    expect(replayed.status).toBe(201);
    expect(await json(replayed)).toEqual(firstOutcome);
    expect(await tenant(second, "replay-active")).toMatchObject({ state: "decommissioned" });
    expect(await readLedger(second, "replay-active")).toEqual(ledger);
  }, 60_000);

  it("an old ENTITLEMENT_PLAN_CHANGED after a downgrade: the first outcome comes back, the plan stays downgraded", async () => {
    const first = await start();
    expect((await first.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "replay-plan", { plan: "starter" }))).status).toBe(201);
    const upgrade = capture(entitlementEvent("ENTITLEMENT_PLAN_CHANGED", "replay-plan", { plan: "bench" }));
    const upgraded = await send(first, upgrade);
    expect(upgraded.status).toBe(200);
    const firstOutcome = await json(upgraded);
    expect(firstOutcome).toMatchObject({ plan: "bench" });
    expect((await first.webhook(entitlementEvent("ENTITLEMENT_PLAN_CHANGED", "replay-plan", { plan: "starter" }))).status).toBe(200);
    expect(await tenant(first, "replay-plan")).toMatchObject({ plan: "starter", concurrency: 1 });
    const ledger = await readLedger(first, "replay-plan");
    await first.kill("SIGKILL");

    const second = await start(first.dataDir);
    const replayed = await send(second, upgrade);
    expect(replayed.status).toBe(200);
    expect(await json(replayed)).toEqual(firstOutcome);
    expect(await tenant(second, "replay-plan")).toMatchObject({ plan: "starter", concurrency: 1 });
    expect(await readLedger(second, "replay-plan")).toEqual(ledger);
  }, 60_000);
});

describe("the same delivery twice at once", () => {
  it("shares one outcome: one provisioning, one receipt", async () => {
    const s = await shared();
    const c = capture(entitlementEvent("ENTITLEMENT_ACTIVE", "concurrent"));
    const answers = await Promise.all([send(s, c), send(s, c), send(s, c)]);
    const bodies = await Promise.all(answers.map(json));
    expect(answers.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    expect((await readLedger(s, "concurrent")).map((r) => r["operation"])).toEqual(["entitlement_active"]);
  }, 30_000);
});

describe("an event older than one already applied to its entitlement", () => {
  const staleReceipt = async (s: Service, eventId: string) => (await readLedger(s, "_platform")).find((r) => r["event_id"] === eventId);

  it("a late upgrade (by the entitlement's updateTime) after a newer downgrade: recorded, ignored, the plan stays downgraded", async () => {
    const s = await shared();
    const base = Date.parse("2026-12-01T10:00:00.000Z");
    const at = (ms: number) => new Date(base + ms).toISOString();
    const withTime = (e: ReturnType<typeof entitlementEvent>, updateTime: string) => ({ ...e, entitlement: { ...e.entitlement, updateTime } });
    expect((await s.webhook(withTime(entitlementEvent("ENTITLEMENT_ACTIVE", "late-plan", { plan: "bench" }), at(0)))).status).toBe(201);
    const downgrade = withTime(entitlementEvent("ENTITLEMENT_PLAN_CHANGED", "late-plan", { plan: "starter" }), at(2000));
    const upgrade = withTime(entitlementEvent("ENTITLEMENT_PLAN_CHANGED", "late-plan", { plan: "bench" }), at(1000));
    expect((await s.webhook(downgrade)).status).toBe(200);
    const ledger = await readLedger(s, "late-plan");

    const late = await s.webhook(upgrade);
    expect(late.status).toBe(202);
    expect(await json(late)).toMatchObject({ acknowledged: true, acted: false, stale: true, account_id: "late-plan", receipt: { ledger: "_platform", operation: "marketplace_event_recorded" } });
    expect(await tenant(s, "late-plan")).toMatchObject({ plan: "starter", concurrency: 1 });
    expect(await readLedger(s, "late-plan")).toEqual(ledger);
    const recorded = await staleReceipt(s, upgrade.eventId);
    expect(recorded).toMatchObject({ operation: "marketplace_event_recorded", event_type: "ENTITLEMENT_PLAN_CHANGED", entitlement_id: "ent-late-plan" });
    expect(recorded?.["note"]).toMatch(new RegExp(`^ignored: sent at ${at(1000).replace(/\./g, "\\.")}, older than event ${downgrade.eventId}`));
  }, 30_000);

  it("without an event time, the webhook timestamp orders them; a late ENTITLEMENT_ACTIVE never undoes a cancel", async () => {
    const s = await shared();
    const now = Date.now();
    const activeEvent = entitlementEvent("ENTITLEMENT_ACTIVE", "late-active");
    // Sent first, delivered last (a webhook retried late, or held back): within the timestamp tolerance, but older than the cancel.
    const active = { event: activeEvent, id: `msg_${randomUUID()}`, timestamp: new Date(now - 60_000) };
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "late-active"), { timestamp: new Date(now - 120_000) })).status).toBe(201);
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_CANCELLED", "late-active"), { timestamp: new Date(now - 30_000) })).status).toBe(200);
    const ledger = await readLedger(s, "late-active");

    const late = await send(s, active);
    expect(late.status).toBe(202);
    expect(await json(late)).toMatchObject({ acted: false, stale: true });
    expect(await tenant(s, "late-active")).toMatchObject({ state: "decommissioned" });
    expect(await readLedger(s, "late-active")).toEqual(ledger);
    expect(await staleReceipt(s, activeEvent.eventId)).toMatchObject({ operation: "marketplace_event_recorded", event_type: "ENTITLEMENT_ACTIVE" });
    // Once recorded, that delivery is done: sent again it answers the same, and records nothing more.
    const platformSize = (await readLedger(s, "_platform")).length;
    expect((await send(s, active)).status).toBe(202);
    expect(await readLedger(s, "_platform")).toHaveLength(platformSize);
  }, 30_000);

  it("the cancel of an earlier entitlement, delivered again under a new webhook id, does not cancel the account's new entitlement", async () => {
    const s = await shared();
    const now = Date.now();
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "resubscribed", { entitlementId: "ent-old" }), { timestamp: new Date(now - 120_000) })).status).toBe(201);
    const cancel = entitlementEvent("ENTITLEMENT_CANCELLED", "resubscribed", { entitlementId: "ent-old" });
    expect((await s.webhook(cancel, { timestamp: new Date(now - 100_000) })).status).toBe(200);
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "resubscribed", { entitlementId: "ent-new" }), { timestamp: new Date(now - 50_000) })).status).toBe(201);
    const ledger = await readLedger(s, "resubscribed");

    const again = await s.webhook(cancel, { timestamp: new Date(now - 100_000) });
    expect(again.status).toBe(202);
    expect(await json(again)).toMatchObject({ acted: false, stale: true });
    expect(await tenant(s, "resubscribed")).toMatchObject({ state: "active" });
    expect(await readLedger(s, "resubscribed")).toEqual(ledger);
    expect((await staleReceipt(s, cancel.eventId))?.["note"]).toMatch(/^ignored: this event .* was applied to this entitlement of account resubscribed already/);
  }, 30_000);

  it("an invalid event time, or a webhook id over 256 characters, is refused with 400 and changes nothing", async () => {
    const s = await shared();
    const e = entitlementEvent("ENTITLEMENT_ACTIVE", "bad-time");
    for (const updateTime of ["2026-02-30T10:00:00Z", "yesterday", `2026-01-01T00:00:00.${"1".repeat(40)}Z`]) {
      const res = await s.webhook({ ...e, entitlement: { ...e.entitlement, updateTime } });
      expect(res.status).toBe(400);
      expect((await json(res)).error).toMatchObject({ code: "BODY_INVALID", message: expect.stringMatching(/entitlement\.updateTime/) });
    }
    // A delivery id is bounded too.
    const longId = await s.webhook(e, { id: `msg_${"x".repeat(300)}` });
    expect(longId.status).toBe(400);
    expect((await json(longId)).error?.code).toBe("WEBHOOK_ID_INVALID");
    expect((await s.request("GET", "/v1/tenants/bad-time", { token: s.credentials.tokens.operator })).status).toBe(404);
  }, 30_000);
});

describe("a delivery claimed by a process that died before its outcome was stored", () => {
  /**
   * What a SIGKILL between claim and outcome leaves in the delivery log: the
   * claim, and neither its outcome nor the entitlement's mark (they are
   * written together).
   */
  function leaveUnfinished(dataDir: string, delivery: Captured, provisioned: boolean): void {
    const db = new DatabaseSync(join(dataDir, "ledger.sqlite"), { timeout: 2000 });
    try {
      const id = `webhook:${delivery.id}`;
      if (provisioned) {
        db.prepare("UPDATE marketplace_deliveries SET outcome = NULL, completed_at = NULL WHERE id = ?").run(id);
        db.prepare("DELETE FROM marketplace_entitlements WHERE entitlement_id = ?").run(delivery.event.entitlement.id);
      } else {
        db.prepare("INSERT INTO marketplace_deliveries (id, owner, claimed_at) VALUES (?, 'a-process-that-died', ?)").run(id, Date.now());
      }
    } finally {
      db.close();
    }
  }

  it("is decided again against the tenant's state after a restart: done once, never blocked", async () => {
    const first = await start();
    // Its work done (entitlement_active durable) but no outcome stored.
    const done = capture(entitlementEvent("ENTITLEMENT_ACTIVE", "crashed-after"));
    expect((await send(first, done)).status).toBe(201);
    // Claimed, nothing done yet.
    const notDone = capture(entitlementEvent("ENTITLEMENT_ACTIVE", "crashed-before"));
    await first.kill("SIGKILL");
    leaveUnfinished(first.dataDir, done, true);
    leaveUnfinished(first.dataDir, notDone, false);

    const second = await start(first.dataDir);
    const again = await send(second, done);
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ account_id: "crashed-after", state: "active", already: true });
    expect((await readLedger(second, "crashed-after")).filter((r) => r["operation"] === "entitlement_active")).toHaveLength(1);

    const resumed = await send(second, notDone);
    expect(resumed.status).toBe(201);
    expect(await tenant(second, "crashed-before")).toMatchObject({ state: "active" });
    expect(second.logs.some((l) => l.includes("decided again against the tenant's state"))).toBe(true);
    // And from now on, its outcome is stored.
    expect((await send(second, notDone)).status).toBe(201);
    expect((await readLedger(second, "crashed-before")).filter((r) => r["operation"] === "entitlement_active")).toHaveLength(1);
  }, 60_000);
});
