/**
 * The service, end to end, when one tenant's ledger does not replay: it
 * starts anyway, takes that tenant alone out of service (503 for its signals,
 * its status says why, the platform ledger names it), and an operator's
 * rebuild answers with a stable code. Also: the longest legal account id is
 * addressable (the router's own path limit was shorter than an account id).
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { entitlementEvent, readLedger, startService, verifyExported, type Service } from "../support/service.ts";

const services: Service[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.kill();
});
async function start(dataDir?: string): Promise<Service> {
  const s = await startService(dataDir === undefined ? {} : { dataDir });
  services.push(s);
  return s;
}

const signal = (s: Service, account: string, id: string) => s.request("POST", `/v1/tenants/${account}/signals`, { body: { signal_id: id, action: "noop", params: {} } });

describe("a tenant whose ledger does not replay", () => {
  it("is quarantined at start while the others run; the platform ledger names it; a rebuild that cannot succeed says so", async () => {
    const first = await start();
    for (const account of ["broken", "fine"]) expect((await first.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", account))).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await signal(first, "broken", `s${i}`)).status).toBe(202);
    await first.kill("SIGTERM");
    services.splice(0);

    // Another writer rewrote a stored receipt: the chain no longer links.
    const db = new DatabaseSync(join(first.dataDir, "ledger.sqlite"));
    const row = db.prepare("SELECT body FROM receipts WHERE ledger = ? AND seq = 1").get("broken") as { body: string };
    db.prepare("UPDATE receipts SET body = ? WHERE ledger = ? AND seq = 1").run(row.body.replace(/"prev_hash":"[0-9a-f]{64}"/, `"prev_hash":"${"f".repeat(64)}"`), "broken");
    db.prepare("DELETE FROM snapshots").run();
    db.close();

    const second = await start(first.dataDir);
    const refused = await signal(second, "broken", "after");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: { code: "TENANT_QUARANTINED" } });
    expect((await signal(second, "fine", "after")).status).toBe(202);

    const status = await second.request("GET", "/v1/tenants/broken", { token: second.credentials.tokens.operator });
    expect(await status.json()).toMatchObject({ availability: "unavailable", state: "quarantined", quarantine: { code: "chain_broken" } });

    const platform = await readLedger(second, "_platform");
    expect(platform.filter((r) => r["operation"] === "tenant_quarantined")).toEqual([expect.objectContaining({ tenant: "broken", code: "chain_broken", status: "failure" })]);
    expect((await verifyExported(second, "_platform")).code).toBe(0);

    const rebuild = await second.request("POST", "/v1/tenants/broken/rebuild", { token: second.credentials.tokens.operator });
    expect(rebuild.status).toBe(409);
    expect(await rebuild.json()).toMatchObject({ error: { code: "TENANT_REBUILD_FAILED" } });
    const notQuarantined = await second.request("POST", "/v1/tenants/fine/rebuild", { token: second.credentials.tokens.operator });
    expect(notQuarantined.status).toBe(409);
    expect(await notQuarantined.json()).toMatchObject({ error: { code: "TENANT_NOT_QUARANTINED" } });
    // No archive is signed over a chain that does not link.
    const exported = await second.request("GET", "/v1/tenants/broken/export", { token: second.credentials.tokens.auditor });
    expect(exported.status).toBe(409);
    expect(await exported.json()).toMatchObject({ error: { code: "LEDGER_CHAIN_BROKEN" } });
    expect(second.proc.exitCode).toBeNull();
  });
});

describe("account ids at their longest", () => {
  it("a 128-character account id is provisioned and takes signals; a longer one gets a 400 with a stable code", async () => {
    const s = await start();
    const longest = `a${"b".repeat(127)}`;
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", longest))).status).toBe(201);
    expect((await signal(s, longest, "one")).status).toBe(202);
    const tooLong = await signal(s, `${longest}c`, "two");
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ error: { code: "QUERY_INVALID" } });
  });
});
