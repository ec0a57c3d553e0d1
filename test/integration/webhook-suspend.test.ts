/**
 * Suspension through the signed webhook (other marketplaces, the seed
 * runbooks' entitlement webhook): the same lifecycle as Google's path.
 * An embedded runtime behind the real HTTP server, driven with app.inject.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedBackend } from "../../src/adapters/backend.ts";
import { Marketplace } from "../../src/app/marketplace.ts";
import { Runtime } from "../../src/app/runtime.ts";
import { createGovernorService } from "../../src/app/service.ts";
import { loadConfig } from "../../src/config.ts";
import { loadCredentials } from "../../src/credentials.ts";
import { buildHttpServer } from "../../src/ingress/http/server.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { entitlementEvent } from "../support/service.ts";

const dir = mkdtempSync(join(tmpdir(), "governor-suspend-"));
const config = loadConfig({}, { dataDir: dir, policiesDir: resolve(import.meta.dirname, "../../policies"), policyWatch: false, scaleIntervalMs: 0, memoryReclaimMs: 0, youngGcMs: 0 });
const credentials = loadCredentials(dir);
const logger = pino({ level: "silent" });
const backend = embeddedBackend(config, logger);
const rt = new Runtime({ config, credentials, ...backend, logger });
const { app } = buildHttpServer(createGovernorService(rt, new Marketplace(rt)), { settings: config, credentials, logger });

beforeAll(() => rt.start());
afterAll(async () => {
  await rt.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function webhook(event: unknown): Promise<{ status: number; body: Record<string, unknown> & { error?: { code: string } } }> {
  const id = `msg_${randomUUID()}`;
  const payload = JSON.stringify(event);
  const timestamp = new Date();
  const res = await app.inject({
    method: "POST",
    url: "/v1/marketplace/events",
    headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)), "webhook-signature": new Webhook(credentials.webhookSecrets[0]!).sign(id, timestamp, payload) },
    payload,
  });
  return { status: res.statusCode, body: res.json() };
}

async function signal(account: string, token: string, id: string) {
  const res = await app.inject({ method: "POST", url: `/v1/tenants/${account}/signals`, headers: { authorization: `Bearer ${token}` }, payload: { signal_id: id, action: "noop", params: {} } });
  return { status: res.statusCode, body: res.json() as { error?: { code: string } } };
}

describe("ENTITLEMENT_SUSPENDED and ENTITLEMENT_REINSTATED through the webhook", () => {
  it("suspends the tenant (signals refused with TENANT_SUSPENDED), answers a repeat as already so, and reinstates it", async () => {
    const account = `susp-${randomUUID().slice(0, 8)}`;
    expect((await webhook(entitlementEvent("ENTITLEMENT_ACTIVE", account))).status).toBe(201);
    const token = (await rt.tokens.issue(account, "admin")).token;
    expect((await webhook(entitlementEvent("ENTITLEMENT_SUSPENDED", account))).body).toMatchObject({ state: "suspended" });
    const refused = await signal(account, token, "s-1");
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe("TENANT_SUSPENDED");
    expect((await webhook(entitlementEvent("ENTITLEMENT_SUSPENDED", account))).body).toMatchObject({ state: "suspended", already: true });
    expect((await webhook(entitlementEvent("ENTITLEMENT_REINSTATED", account))).body).toMatchObject({ state: "active" });
    expect((await signal(account, token, "s-2")).status).toBe(202);
    const ledger = await rt.store.read(account as LedgerId, 0, 100);
    expect(ledger.map((r) => r.operation).filter((o) => o.startsWith("entitlement_"))).toEqual(["entitlement_active", "entitlement_suspended", "entitlement_reinstated"]);
  });

  it("answers 404 for a tenant that does not exist", async () => {
    const res = await webhook(entitlementEvent("ENTITLEMENT_SUSPENDED", `nobody-${randomUUID().slice(0, 8)}`));
    expect(res.status).toBe(404);
    expect(res.body.error?.code).toBe("TENANT_UNKNOWN");
  });
});
