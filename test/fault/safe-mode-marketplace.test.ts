/**
 * Provisioning, plan changes, cancels and scaling in safe mode, against a
 * real failure: the service runs as a child process on the embedded store,
 * and a second process holds the SQLite database's write lock. Each is
 * refused with 503 SAFE_MODE and Retry-After before anything is created (no
 * tenant, no channel, no receipt spooled), and is not remembered as the
 * delivery's outcome: sent again once the store is back, it runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entitlementEvent, eventually, readLedger, startService, type Service } from "../support/service.ts";
import { holdWriteLock } from "../support/sqlite-lock.ts";

const env = {
  GOVERNOR_HEALTH_INTERVAL_MS: "300",
  GOVERNOR_PROBE_DEADLINE_MS: "200",
  GOVERNOR_PROBE_FAILURES: "2",
  GOVERNOR_RETRY_AFTER_S: "7",
  GOVERNOR_DRAIN_MS: "1000",
};

const json = async (res: Response) => (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
const ready = async (s: Service) => (await s.request("GET", "/readyz", { token: null })).status;

let svc: Service;
let lock: { release(): Promise<void> } | null = null;
/** Deliveries refused in safe mode, sent again (same webhook id and timestamp) once it is over. */
const refused: { name: string; event: ReturnType<typeof entitlementEvent>; id: string; timestamp: Date }[] = [];

beforeAll(async () => {
  svc = await startService({ env });
  for (const account of ["sm-plan", "sm-cancel", "sm-scale"]) {
    const res = await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", account, { plan: "starter" }));
    if (res.status !== 201) throw new Error(`provisioning ${account}: HTTP ${res.status} ${await res.text()}`);
  }
  lock = await holdWriteLock(join(svc.dataDir, "ledger.sqlite"));
  await eventually(async () => (await ready(svc)) === 503, "safe mode", 10_000);
}, 60_000);
afterAll(async () => {
  await lock?.release();
  await svc?.kill();
});

/** A refusal in safe mode: 503, SAFE_MODE, Retry-After, and a message that says to retry. */
async function expectSafeModeRefusal(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get("retry-after")).toBe("7");
  const body = await json(res);
  expect(body.error?.code).toBe("SAFE_MODE");
  expect(body.error?.message).toMatch(/safe mode/);
}

/** What safe mode wrote to the spool so far: nothing of these tenants may be there. */
const spooled = () => {
  const path = join(svc.dataDir, "spool", "receipts.jsonl");
  return existsSync(path) ? readFileSync(path, "utf8") : "";
};

async function sendRefused(name: string, event: ReturnType<typeof entitlementEvent>): Promise<Response> {
  const delivery = { name, event, id: `msg_${name}_${Date.now()}`, timestamp: new Date() };
  refused.push(delivery);
  return svc.webhook(event, { id: delivery.id, timestamp: delivery.timestamp });
}

describe("in safe mode", () => {
  it("provisioning (ENTITLEMENT_ACTIVE) is refused: no tenant, no channel, no receipt", async () => {
    await expectSafeModeRefusal(await sendRefused("active", entitlementEvent("ENTITLEMENT_ACTIVE", "sm-new", { plan: "starter" })));
    expect((await svc.request("GET", "/v1/tenants/sm-new", { token: svc.credentials.tokens.operator })).status).toBe(404);
    expect(spooled()).not.toContain("sm-new");
  });

  it("a plan change (ENTITLEMENT_PLAN_CHANGED) is refused: the plan stays", async () => {
    await expectSafeModeRefusal(await sendRefused("plan", entitlementEvent("ENTITLEMENT_PLAN_CHANGED", "sm-plan", { plan: "bench" })));
    expect(await json(await svc.request("GET", "/v1/tenants/sm-plan", { token: svc.credentials.tokens.operator }))).toMatchObject({ plan: "starter", concurrency: 1 });
    expect(spooled()).not.toContain("sm-plan");
  });

  it("a cancel (ENTITLEMENT_CANCELLED) is refused: the tenant is not drained while its ledger cannot take the receipts", async () => {
    await expectSafeModeRefusal(await sendRefused("cancel", entitlementEvent("ENTITLEMENT_CANCELLED", "sm-cancel")));
    expect(await json(await svc.request("GET", "/v1/tenants/sm-cancel", { token: svc.credentials.tokens.operator }))).toMatchObject({ state: "active" });
    expect(spooled()).not.toContain("sm-cancel");
  });

  it("operator scaling is refused: the concurrency stays", async () => {
    await expectSafeModeRefusal(await svc.request("POST", "/v1/tenants/sm-scale/scale", { token: svc.credentials.tokens.operator, body: { concurrency: 3 } }));
    expect(await json(await svc.request("GET", "/v1/tenants/sm-scale", { token: svc.credentials.tokens.operator }))).toMatchObject({ concurrency: 1 });
    expect(spooled()).not.toContain("sm-scale");
  });

  it("once the store is back, each refused delivery sent again runs (a refusal was not stored as its outcome)", async () => {
    await lock!.release();
    lock = null;
    await eventually(async () => (await ready(svc)) === 200, "recovery", 10_000);
    const outcomes = new Map<string, number>();
    for (const d of refused) outcomes.set(d.name, (await svc.webhook(d.event, { id: d.id, timestamp: d.timestamp })).status);
    expect(Object.fromEntries(outcomes)).toEqual({ active: 201, plan: 200, cancel: 200 });
    const status = async (account: string) => json(await svc.request("GET", `/v1/tenants/${account}`, { token: svc.credentials.tokens.operator }));
    expect(await status("sm-new")).toMatchObject({ state: "active" });
    expect(await status("sm-plan")).toMatchObject({ plan: "bench" });
    expect(await status("sm-cancel")).toMatchObject({ state: "decommissioned" });
    expect((await svc.request("POST", "/v1/tenants/sm-scale/scale", { token: svc.credentials.tokens.operator, body: { concurrency: 3 } })).status).toBe(200);
    expect((await readLedger(svc, "sm-new")).map((r) => r["operation"])).toEqual(["entitlement_active"]);
  }, 30_000);
});
