/**
 * Google Cloud Marketplace end to end: the service (`serve --backend gcp`)
 * takes Google's procurement notifications from the real Pub/Sub emulator,
 * in Google's exact message shapes, reads each entitlement and account from
 * the Partner Procurement API (an HTTP double, spoken to by Google's
 * generated client), approves or rejects through it, and records every
 * decision on the ledgers. Firestore is the real emulator, Cloud Storage
 * the JSON API double.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPubSubClient } from "../../src/adapters/gcp/pubsub.ts";
import { requireFirestoreEmulator, requirePubSubEmulator } from "../support/emulators.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { startProcurementDouble, type ProcurementDouble } from "../support/procurement-double.ts";
import { startServiceControlDouble, type ServiceControlDouble } from "../support/servicecontrol-double.ts";
import { startSignupIssuer, type SignupIssuer } from "../support/signup-issuer.ts";
import { eventually, gcpServiceEnv, readLedger, scratchDir, startService, verifyExported, type Service } from "../support/service.ts";

const firestore = requireFirestoreEmulator();
const emulator = requirePubSubEmulator();
const run = randomUUID().slice(0, 8);
const providerId = `provider-${run}`;
const procurementTopic = `marketplace-${run}`;
const pubsub = createPubSubClient({ projectId: emulator.projectId });
const dataDir = scratchDir("governor-google-");
let gcs: GcsDouble;
let api: ProcurementDouble;
let serviceControl: ServiceControlDouble;
let issuer: SignupIssuer;
let service: Service;
const serviceName = "governor-test.gcpmarketplace.example.com";
const signupAudience = "signup.governor.example.com";

const start = async (): Promise<Service> =>
  startService({
    dataDir,
    args: ["--backend", "gcp"],
    env: {
      ...gcpServiceEnv({ projectId: firestore.projectId, prefix: `google${run}`, storageUrl: gcs.url, procurementTopic }),
      GOVERNOR_MARKETPLACE_PROVIDER_ID: providerId,
      GOVERNOR_PROCUREMENT_API_URL: api.url,
      GOVERNOR_GOOGLE_API_AUTH: "none",
      GOVERNOR_MARKETPLACE_SERVICE_NAME: serviceName,
      GOVERNOR_SERVICE_CONTROL_URL: serviceControl.url,
      GOVERNOR_USAGE_INTERVAL_MS: "200",
      GOVERNOR_SIGNUP_AUDIENCE: signupAudience,
      GOVERNOR_SIGNUP_CERTS_URL: issuer.url,
      GOVERNOR_RECONCILE_INTERVAL_MS: "0",
      GOVERNOR_RETRY_AFTER_S: "1",
      GOVERNOR_DRAIN_MS: "1000",
    },
  });

const publish = (message: unknown) => pubsub.topic(procurementTopic).publishMessage({ json: message });
const operator = () => ({ token: service.credentials.tokens.operator });
const status = async (tenant: string): Promise<Record<string, unknown> | null> => {
  const res = await service.request("GET", `/v1/tenants/${tenant}`, operator());
  return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : null;
};
/** The operations on a tenant's ledger, none while it does not exist yet. */
const ops = async (tenant: string): Promise<string[]> => {
  const head = await service.request("GET", `/v1/tenants/${tenant}/receipts?limit=1`, { token: service.credentials.tokens.auditor });
  if (head.status === 404) return [];
  return (await readLedger(service, tenant)).map((r) => String(r["operation"]));
};
const platformNotes = async (): Promise<Record<string, unknown>[]> => readLedger(service, "_platform");
const callsTo = (method: string, id: string) => api.calls.filter((c) => c.method === method && c.name.endsWith(`/${id}`));

/** A procurement account that has signed up (ACCOUNT_ACTIVE at the API). */
function activeAccount(): string {
  const id = `acct-${randomUUID().slice(0, 8)}`;
  api.putAccount({ id, state: "ACCOUNT_ACTIVE", approvals: [{ name: "signup", state: "APPROVED" }] });
  return id;
}

beforeAll(async () => {
  gcs = await startGcsDouble();
  api = await startProcurementDouble({ providerId });
  serviceControl = await startServiceControlDouble();
  issuer = await startSignupIssuer(signupAudience);
  await pubsub.createTopic(procurementTopic).catch(() => undefined);
  service = await start();
}, 60_000);
afterAll(async () => {
  await service?.kill();
  await api?.close();
  await serviceControl?.close();
  await issuer?.close();
  await gcs?.close();
  await pubsub.close();
});

describe("Google Cloud Marketplace procurement events", () => {
  it("an account's events are recorded with the API's state", async () => {
    const account = activeAccount();
    await publish(api.notification("ACCOUNT_ACTIVE", { account: { id: account } }));
    await eventually(async () => (await platformNotes()).some((r) => r["operation"] === "marketplace_account_recorded" && r["procurement_account_id"] === account), "the account record", 20_000);
    const record = (await platformNotes()).find((r) => r["procurement_account_id"] === account)!;
    expect(record).toMatchObject({ event_type: "ACCOUNT_ACTIVE", account_state: "ACCOUNT_ACTIVE" });
    // An account the API no longer has (ACCOUNT_DELETED): recorded as NOT_FOUND.
    const gone = `acct-${randomUUID().slice(0, 8)}`;
    const deleted = api.notification("ACCOUNT_DELETED", { account: { id: gone } });
    await publish(deleted);
    await eventually(async () => (await platformNotes()).some((r) => r["event_id"] === deleted.eventId), "the deleted account's record", 20_000);
    expect((await platformNotes()).find((r) => r["event_id"] === deleted.eventId)).toMatchObject({ event_type: "ACCOUNT_DELETED", procurement_account_id: gone, account_state: "NOT_FOUND" });
  }, 60_000);

  it("the whole lifecycle: approval, activation, plan change with approval, pending and reverted cancellation, cancellation", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVATION_REQUESTED", usageReportingId: "project_number:1234" });
    await publish(api.notification("ENTITLEMENT_CREATION_REQUESTED", { entitlement: { id: ent.id } }));
    await eventually(() => callsTo("approve", ent.id).length === 1, "the entitlement's approval", 20_000);
    await eventually(async () => (await ops(ent.id)).filter((o) => o === "entitlement_approval").length === 2, "the approval's receipts", 20_000);
    // Written down before it was sent, and once the API took it.
    const approval = (await readLedger(service, ent.id)).slice(0, 2);
    expect(approval.map((r) => r["status"])).toEqual(["pending", "success"]);
    expect(approval[1]).toMatchObject({ operation: "entitlement_approval", request: "entitlement", decision: "approved", procurement_account_id: account, sku_id: "demo", plan: "starter" });

    // The double made it ACTIVE on approval; Google then says so.
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the tenant to be provisioned", 20_000);
    const active = (await readLedger(service, ent.id)).find((r) => r["operation"] === "entitlement_active")!;
    expect(active).toMatchObject({ entitlement_id: ent.id, procurement_account_id: account, sku_id: "demo", plan: "starter", usage_reporting_id: "project_number:1234" });
    expect(await status(ent.id)).toMatchObject({ procurement_account_id: account, plan: "starter" });

    api.setState(ent.id, "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL", { newPendingPlan: "bench" });
    await publish(api.notification("ENTITLEMENT_PLAN_CHANGE_REQUESTED", { entitlement: { id: ent.id, newPlan: "bench" } }));
    await eventually(() => callsTo("approvePlanChange", ent.id).length === 1, "the plan change's approval", 20_000);
    expect(callsTo("approvePlanChange", ent.id)[0]!.body).toEqual({ pendingPlanName: "bench" });
    api.completePlanChange(ent.id);
    await publish(api.notification("ENTITLEMENT_PLAN_CHANGED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["plan"] === "bench", "the new plan", 20_000);

    api.setState(ent.id, "ENTITLEMENT_PENDING_CANCELLATION");
    await publish(api.notification("ENTITLEMENT_PENDING_CANCELLATION", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["pending_cancellation"] === true, "the pending cancellation in the status", 20_000);
    expect((await status(ent.id))?.["state"]).toBe("active");

    api.setState(ent.id, "ENTITLEMENT_ACTIVE");
    await publish(api.notification("ENTITLEMENT_CANCELLATION_REVERTED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["pending_cancellation"] === undefined, "the reverted cancellation", 20_000);

    api.setState(ent.id, "ENTITLEMENT_CANCELLED");
    await publish(api.notification("ENTITLEMENT_CANCELLED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "decommissioned", "the decommission", 30_000);
    expect(await ops(ent.id)).toEqual([
      "entitlement_approval",
      "entitlement_approval",
      "entitlement_active",
      "entitlement_approval",
      "entitlement_approval",
      "entitlement_plan_changed",
      "entitlement_cancellation_pending",
      "entitlement_cancellation_reverted",
      "decommission_start",
      "decommission_complete",
    ]);
    // No correction was needed: each event announced its own change.
    expect(await ops(ent.id)).not.toContain("entitlement_reconciled");
    expect((await verifyExported(service, ent.id)).code).toBe(0);
  }, 120_000);

  it("rejects a plan the SKU's policy does not have, with a reason that fits Google's limit", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "platinum", state: "ENTITLEMENT_ACTIVATION_REQUESTED" });
    await publish(api.notification("ENTITLEMENT_CREATION_REQUESTED", { entitlement: { id: ent.id } }));
    await eventually(() => callsTo("reject", ent.id).length === 1, "the rejection", 20_000);
    const body = callsTo("reject", ent.id)[0]!.body as { reason: string };
    expect(body.reason).toContain('no plan "platinum"');
    expect(Buffer.byteLength(body.reason)).toBeLessThanOrEqual(256);
    await eventually(async () => (await ops(ent.id)).filter((o) => o === "entitlement_approval").length === 2, "the rejection's receipts", 20_000);
    expect((await readLedger(service, ent.id))[1]).toMatchObject({ status: "success", decision: "rejected", reason: body.reason });
    expect(await status(ent.id)).toMatchObject({ state: "new" });
  }, 60_000);

  it("an approval whose send fails is written down, decided again on redelivery, and sent once; one the API refuses for good is a failure", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVATION_REQUESTED" });
    api.failNext(1, 503, "approve");
    await publish(api.notification("ENTITLEMENT_CREATION_REQUESTED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await readLedger(service, ent.id).catch(() => [])).some((r) => r["status"] === "success"), "the approval once the API takes it", 30_000);
    const approvals = await readLedger(service, ent.id);
    // The first decision's send failed (pending, nacked); the redelivery decided again and sent it.
    expect(approvals.map((r) => [r["operation"], r["status"], r["decision"]])).toEqual([
      ["entitlement_approval", "pending", "approved"],
      ["entitlement_approval", "pending", "approved"],
      ["entitlement_approval", "success", "approved"],
    ]);
    expect(callsTo("approve", ent.id).map((c) => c.status)).toEqual([503, 200]);

    const refused = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVATION_REQUESTED" });
    api.failNext(1, 403, "approve");
    await publish(api.notification("ENTITLEMENT_CREATION_REQUESTED", { entitlement: { id: refused.id } }));
    await eventually(async () => (await readLedger(service, refused.id).catch(() => [])).some((r) => r["status"] === "failure"), "the refused approval's failure", 30_000);
    const failed = await readLedger(service, refused.id);
    expect(failed.map((r) => r["status"])).toEqual(["pending", "failure"]);
    expect(String(failed[1]!["reason"])).toContain("not sent");
    expect(callsTo("approve", refused.id)).toHaveLength(1);
  }, 90_000);

  it("suspends a tenant (its signals refused with TENANT_SUSPENDED) and reinstates it", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the tenant", 20_000);
    const token = await service.tenantToken(ent.id);

    api.setState(ent.id, "ENTITLEMENT_SUSPENDED");
    await publish(api.notification("ENTITLEMENT_SUSPENDED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "suspended", "the suspension", 20_000);
    const refused = await service.request("POST", `/v1/tenants/${ent.id}/signals`, { token, body: { signal_id: "s-1", action: "noop", params: {} } });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("TENANT_SUSPENDED");

    api.setState(ent.id, "ENTITLEMENT_ACTIVE");
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the reinstatement", 20_000);
    const accepted = await service.request("POST", `/v1/tenants/${ent.id}/signals`, { token, body: { signal_id: "s-2", action: "noop", params: {} } });
    expect(accepted.status).toBe(202);
    expect((await ops(ent.id)).filter((o) => o.startsWith("entitlement_"))).toEqual(["entitlement_active", "entitlement_suspended", "entitlement_reinstated"]);
  }, 60_000);

  it("holds back an entitlement event until its account has signed up", async () => {
    const account = `acct-${randomUUID().slice(0, 8)}`;
    api.putAccount({ id: account, state: "ACCOUNT_ACTIVATION_REQUESTED" });
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVATION_REQUESTED" });
    await publish(api.notification("ENTITLEMENT_CREATION_REQUESTED", { entitlement: { id: ent.id } }));
    await eventually(() => service.logs.some((l) => l.includes("held back") && l.includes(ent.id)), "the hold-back", 20_000);
    expect(callsTo("approve", ent.id)).toEqual([]);
    api.putAccount({ id: account, state: "ACCOUNT_ACTIVE", approvals: [{ name: "signup", state: "APPROVED" }] });
    await eventually(() => callsTo("approve", ent.id).length === 1, "the approval once the account is active", 30_000);
  }, 60_000);

  it("two entitlements of one account are two tenants, each on its own plan", async () => {
    const account = activeAccount();
    const a = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    const b = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "bench", state: "ENTITLEMENT_ACTIVE" });
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: a.id } }));
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: b.id } }));
    await eventually(async () => (await status(a.id))?.["state"] === "active" && (await status(b.id))?.["state"] === "active", "both tenants", 20_000);
    expect(await status(a.id)).toMatchObject({ plan: "starter", concurrency: 1, procurement_account_id: account });
    expect(await status(b.id)).toMatchObject({ plan: "bench", concurrency: 64, procurement_account_id: account });
  }, 60_000);

  it("repeated and out-of-order events: a repeat changes nothing, an event ahead of its predecessor acts on the API's state", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    // PLAN_CHANGED arrives first; the ACTIVE that came before it is delivered after, twice.
    const active = api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } });
    await publish(api.notification("ENTITLEMENT_PLAN_CHANGED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the tenant", 20_000);
    await publish(active);
    await eventually(async () => (await platformNotes()).filter((r) => r["event_id"] === active.eventId).length >= 1, "the late event's record", 20_000);
    // Published again (Pub/Sub delivers at least once; a publisher may publish twice).
    await publish(active);
    const ledger = await ops(ent.id);
    // Provisioned once, by the first event, as a correction of what it had missed.
    expect(ledger).toEqual(["entitlement_reconciled", "entitlement_active"]);
    expect((await readLedger(service, ent.id))[0]).toMatchObject({ correction: "provision", trigger: "ENTITLEMENT_PLAN_CHANGED", api_state: "ENTITLEMENT_ACTIVE" });
    await eventually(() => service.logs.some((l) => l.includes("answered with its first outcome") && l.includes(active.eventId)), "the repeat answered from the delivery log", 20_000);
    expect((await platformNotes()).filter((r) => r["event_id"] === active.eventId)).toHaveLength(1);
  }, 60_000);

  it("an API read older than what was applied changes nothing", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the tenant", 20_000);
    // A stale replica answers with an older state: suspended an hour ago.
    api.setState(ent.id, "ENTITLEMENT_SUSPENDED", { updateTime: new Date(Date.now() - 3_600_000).toISOString() });
    const late = api.notification("ENTITLEMENT_SUSPENDED", { entitlement: { id: ent.id } });
    await publish(late);
    await eventually(async () => (await platformNotes()).some((r) => r["event_id"] === late.eventId), "the stale event's record", 20_000);
    expect((await platformNotes()).find((r) => r["event_id"] === late.eventId)?.["note"]).toContain("older than event");
    expect((await status(ent.id))?.["state"]).toBe("active");
  }, 60_000);

  it("the API down: events are nacked and retried, nothing is lost", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    api.down = true;
    const before = api.calls.length;
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    // Refused at least twice: delivered again after the first nack.
    await eventually(() => api.calls.slice(before).filter((c) => c.name.endsWith(ent.id)).length >= 2, "redeliveries while the API is down", 30_000);
    expect(await status(ent.id)).toBeNull();
    api.down = false;
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the tenant once the API is back", 30_000);
  }, 60_000);

  it("plan change cancelled and deleted are recorded; offer ended and an unknown type reconcile, never dropped", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the tenant", 20_000);
    const recorded = [api.notification("ENTITLEMENT_PLAN_CHANGE_CANCELLED", { entitlement: { id: ent.id } }), api.notification("ENTITLEMENT_DELETED", { entitlement: { id: ent.id } })];
    for (const n of recorded) await publish(n);
    await eventually(async () => {
      const notes = await platformNotes();
      return recorded.every((n) => notes.some((r) => r["event_id"] === n.eventId));
    }, "the records", 20_000);
    const notes = await platformNotes();
    for (const n of recorded) expect(notes.find((r) => r["event_id"] === n.eventId)).toMatchObject({ operation: "marketplace_event_recorded", event_type: n.eventType, entitlement_id: ent.id });

    // A type Google adds later: the governor is brought to the API's state (here: suspended), with the correction written down.
    api.setState(ent.id, "ENTITLEMENT_SUSPENDED");
    await publish(api.notification("ENTITLEMENT_SOMETHING_NEW", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "suspended", "the correction of an unknown event type", 20_000);
    // The offer ended and the API says cancelled: decommissioned.
    api.setState(ent.id, "ENTITLEMENT_CANCELLED");
    await publish(api.notification("ENTITLEMENT_OFFER_ENDED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "decommissioned", "the correction of an ended offer", 30_000);
    const reconciled = (await readLedger(service, ent.id)).filter((r) => r["operation"] === "entitlement_reconciled");
    expect(reconciled.map((r) => [r["trigger"], r["correction"], r["api_state"]])).toEqual([
      ["ENTITLEMENT_SOMETHING_NEW", "suspend", "ENTITLEMENT_SUSPENDED"],
      ["ENTITLEMENT_OFFER_ENDED", "cancel", "ENTITLEMENT_CANCELLED"],
    ]);
  }, 90_000);

  it("the reconciliation sweep heals a dropped event, with a receipt for the correction", async () => {
    const account = activeAccount();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    // Its ENTITLEMENT_ACTIVE was never delivered (dead-lettered, lost).
    const res = await service.request("POST", "/v1/marketplace/reconcile", operator());
    expect(res.status).toBe(200);
    expect(((await res.json()) as { corrected: number }).corrected).toBeGreaterThanOrEqual(1);
    expect(await status(ent.id)).toMatchObject({ state: "active", plan: "starter" });
    expect((await readLedger(service, ent.id))[0]).toMatchObject({ operation: "entitlement_reconciled", correction: "provision", trigger: "sweep" });
    // A second pass finds nothing to correct for it.
    await service.request("POST", "/v1/marketplace/reconcile", operator());
    expect(await ops(ent.id)).toEqual(["entitlement_reconciled", "entitlement_active"]);
  }, 60_000);

  it("sign-up: a verified token approves the account and links it to its tenants; a bad one changes nothing", async () => {
    const account = `acct-${randomUUID().slice(0, 8)}`;
    api.putAccount({ id: account, state: "ACCOUNT_ACTIVATION_REQUESTED" });
    const nowS = Math.floor(Date.now() / 1000);
    const post = (token: string) =>
      fetch(`${service.url}/v1/marketplace/signup`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ "x-gcp-marketplace-token": token }) });
    const foreign = await post(await issuer.sign({ sub: account, aud: "someone-else.example.com" }, nowS));
    expect(foreign.status).toBe(403);
    const expired = await post(await issuer.sign({ sub: account, iat: nowS - 7200, exp: nowS - 3600 }, nowS - 7200));
    expect(expired.status).toBe(401);
    expect(api.calls.filter((c) => c.method === "approve" && c.name.endsWith(`/accounts/${account}`))).toEqual([]);

    const ok = await post(await issuer.sign({ sub: account }, nowS));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ procurement_account_id: account, approved: true, approved_now: true });
    const approvals = api.calls.filter((c) => c.method === "approve" && c.name.endsWith(`/accounts/${account}`));
    expect(approvals.map((c) => c.body)).toEqual([{ approvalName: "signup" }]);
    expect((await platformNotes()).find((r) => r["operation"] === "marketplace_signup" && r["procurement_account_id"] === account)).toMatchObject({ approval_name: "signup", approved_now: true });
  }, 60_000);

  it("usage is billed to Service Control from the receipts, once, through a failed report; an auditor recomputes it from the archive", async () => {
    const push = await service.request("POST", "/v1/policies?new_sku=true", {
      token: service.credentials.tokens.gitops,
      body: {
        sku_id: "metered",
        policy_version: "1.0.0",
        actions: { noop: { handler: "noop" } },
        plans: { pay: { monthly_actions: 1000, concurrent_actions: 2, max_concurrency: 4, cost_per_slot_usd: "0.10", actions: ["noop"], metering: [{ metric: "actions", counts: "action_complete" }] } },
      },
    });
    expect(push.status).toBeLessThan(300);
    const account = activeAccount();
    const consumer = `project_number:${Math.floor(Math.random() * 1e9)}`;
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "metered", plan: "pay", state: "ENTITLEMENT_ACTIVE", usageReportingId: consumer });
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the tenant", 20_000);
    const token = await service.tenantToken(ent.id);
    for (const id of ["u-1", "u-2", "u-3"]) {
      expect((await service.request("POST", `/v1/tenants/${ent.id}/signals`, { token, body: { signal_id: id, action: "noop", params: {} } })).status).toBe(202);
    }
    await eventually(async () => (await ops(ent.id)).filter((o) => o === "action_complete").length === 3, "three completed actions", 20_000);

    // The cancel bills the last window before the archive; Service Control fails that report once.
    serviceControl.failNext(1, 503, "report");
    api.setState(ent.id, "ENTITLEMENT_CANCELLED");
    await publish(api.notification("ENTITLEMENT_CANCELLED", { entitlement: { id: ent.id } }));
    await eventually(async () => (await status(ent.id))?.["state"] === "decommissioned", "the decommission", 30_000);
    // The pending window is sent again, with the same operation id, and billed once.
    await eventually(async () => (await readLedger(service, ent.id)).some((r) => r["operation"] === "usage_reported" && r["status"] === "success"), "the report's success", 30_000);
    expect(service.logs.some((l) => l.includes("usage report failed") && l.includes(ent.id))).toBe(true);
    const metric = `${serviceName}/actions`;
    expect(serviceControl.billed(consumer, metric)).toBe(3);
    const sent = serviceControl.reports.flatMap((r) => r.operations).filter((o) => o.consumerId === consumer);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    const usage = (await readLedger(service, ent.id)).filter((r) => r["operation"] === "usage_reported");
    expect(usage.map((r) => r["status"])).toEqual(["pending", "success"]);
    expect(usage[0]!["operation_id"]).toBe(usage[1]!["operation_id"]);
    expect(usage[1]!["metrics"]).toEqual([{ metric, counts: "action_complete", quantity: 3 }]);
    const verified = await verifyExported(service, ent.id);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain("usage");
  }, 90_000);

  // Last: after a SIGKILL the emulator may hold back new messages for the dead subscriber's stream for a while.
  it("a private offer with a future start is provisioned when it starts, also across a restart", async () => {
    const account = activeAccount();
    const startsAt = new Date(Date.now() + 8_000).toISOString();
    const ent = api.putEntitlement({ id: randomUUID(), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE", newOfferStartTime: startsAt });
    await publish(api.notification("ENTITLEMENT_OFFER_ACCEPTED", { entitlement: { id: ent.id, newOfferStartTime: startsAt } }));
    await eventually(async () => (await ops(ent.id)).includes("entitlement_offer_scheduled"), "the scheduled offer", 20_000);
    expect((await status(ent.id))?.["scheduled_offer"]).toMatchObject({ starts_at: startsAt });
    // An ENTITLEMENT_ACTIVE before the start does not provision it early.
    await publish(api.notification("ENTITLEMENT_ACTIVE", { entitlement: { id: ent.id } }));
    // The deadline lives in the ledger: it fires after a crash and restart.
    await service.kill("SIGKILL");
    service = await start();
    await eventually(async () => (await status(ent.id))?.["state"] === "active", "the offer's start", 30_000);
    const ledger = await readLedger(service, ent.id);
    const activeAt = Date.parse(String(ledger.find((r) => r["operation"] === "entitlement_active")!["timestamp"]));
    expect(activeAt).toBeGreaterThanOrEqual(Date.parse(startsAt));
    expect(ledger.find((r) => r["operation"] === "entitlement_active")).toMatchObject({ event_id: ledger[0]!["event_id"] });
  }, 90_000);
});
