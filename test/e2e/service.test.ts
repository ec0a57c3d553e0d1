/**
 * The service as users meet it: a real process on a real socket, webhooks
 * signed with the standardwebhooks library, and the auditor's CLI at the end.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath, entitlementEvent, readLedger, startService, type Service } from "../support/service.ts";

const exec = promisify(execFile);
const SECRET_A = `whsec_${randomBytes(32).toString("base64")}`;
const SECRET_B = `whsec_${randomBytes(32).toString("base64")}`;

let svc: Service;
beforeAll(async () => {
  svc = await startService({ env: { GOVERNOR_WEBHOOK_SECRETS: `${SECRET_A},${SECRET_B}`, GOVERNOR_BODY_LIMIT_BYTES: "4096", GOVERNOR_DRAIN_MS: "2000" } });
});
afterAll(async () => {
  await svc?.kill();
});

/** Marketplace events signed with the first active secret unless a test says otherwise. */
const hook = (event: unknown, options: Parameters<Service["webhook"]>[1] = {}) => svc.webhook(event, { secret: SECRET_A, ...options });
const json = async (res: Response) => (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
/** Each tenant's own token, issued on first use. */
const tenantTokens = new Map<string, string>();
async function tenantToken(account: string): Promise<string> {
  let token = tenantTokens.get(account);
  if (token === undefined) tenantTokens.set(account, (token = await svc.tenantToken(account)));
  return token;
}
/** A signal with the tenant's own token (or the one given). */
const signal = async (account: string, body: unknown, token?: string) =>
  svc.request("POST", `/v1/tenants/${account}/signals`, { token: token ?? (await tenantToken(account)), body });

describe("the tenant lifecycle, end to end", () => {
  it("provision → signal → status → cancel → export verifies offline", async () => {
    const provisioned = await hook(entitlementEvent("ENTITLEMENT_ACTIVE", "acme", { plan: "starter" }), { secret: SECRET_A });
    expect(provisioned.status).toBe(201);
    expect(await json(provisioned)).toMatchObject({ account_id: "acme", state: "active", policy_version: "1.0.0" });

    const accepted = await signal("acme", { signal_id: "order-1", action: "noop", params: { note: "hello" } });
    expect(accepted.status).toBe(202);
    const first = await json(accepted);
    const again = await signal("acme", { signal_id: "order-1", action: "noop", params: { note: "hello" } });
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ duplicate: true, action_id: first["action_id"] });

    const status = await json(await svc.request("GET", "/v1/tenants/acme", { token: svc.credentials.tokens.operator }));
    expect(status).toMatchObject({ account_id: "acme", availability: "available", state: "active", plan: "starter", policy_version: "1.0.0", concurrency: 1 });
    expect(JSON.stringify(status)).not.toContain("hello");

    const cp = await svc.request("GET", "/v1/tenants/acme/checkpoint", { token: svc.credentials.tokens.auditor });
    expect(cp.status).toBe(200);
    expect(await cp.text()).toMatch(/^governor\.local\/acme\n\d+\n/);
    const proof = await json(await svc.request("GET", "/v1/tenants/acme/proof?seq=0", { token: svc.credentials.tokens.auditor }));
    expect(proof).toMatchObject({ leaf_index: 0 });

    const cancelled = await hook(entitlementEvent("ENTITLEMENT_CANCELLED", "acme"), { secret: SECRET_B });
    expect(cancelled.status).toBe(200);
    expect(await json(cancelled)).toMatchObject({ state: "decommissioned", receipt: { operation: "decommission_complete" } });

    // Its token was revoked with it; an admin token still reaches it, and it takes nothing.
    const revoked = await signal("acme", { signal_id: "order-2", action: "noop" });
    expect(revoked.status).toBe(401);
    const late = await signal("acme", { signal_id: "order-2", action: "noop" }, svc.credentials.tokens.admin);
    expect(late.status).toBe(409);
    expect((await json(late)).error?.code).toBe("TENANT_UNAVAILABLE");

    const ledger = await readLedger(svc, "acme");
    expect(ledger.map((r) => r["operation"])).toEqual([
      "entitlement_active",
      "tenant_token_issued",
      "action_started",
      "action_complete",
      "tenant_token_revoked",
      "decommission_start",
      "decommission_complete",
    ]);
    expect(ledger[4]).toMatchObject({ token_id: ledger[1]!["token_id"], by: "governor", reason: "decommissioned" });
    const complete = ledger[6]!;
    expect(complete["receipt_count"]).toBe(6);
    expect(statSync(new URL(complete["archive_uri"] as string)).size).toBe(complete["archive_bytes"]);

    const exported = await svc.request("GET", "/v1/tenants/acme/export", { token: svc.credentials.tokens.auditor });
    expect(exported.status).toBe(200);
    const archive = join(svc.dataDir, "acme-export.tar.gz");
    writeFileSync(archive, Buffer.from(await exported.arrayBuffer()));
    const keys = (await (await svc.request("GET", "/.well-known/governor/keys", { token: null })).text()).trim();
    const verdict = await exec(process.execPath, [cliPath, "verify", archive, "--key", keys]);
    expect(verdict.stdout).toMatch(/^valid: ledger acme, 7 receipts/);

    // Subscribing again gives a new governor on the same ledger.
    const again2 = await hook(entitlementEvent("ENTITLEMENT_ACTIVE", "acme", { entitlementId: "ent-acme-2" }));
    expect(again2.status).toBe(201);
    expect((await readLedger(svc, "acme")).at(-1)).toMatchObject({ operation: "entitlement_active", seq: 7, entitlement_id: "ent-acme-2" });
  });

  it("changes a plan and applies the new plan's quotas", async () => {
    expect((await hook(entitlementEvent("ENTITLEMENT_ACTIVE", "replan", { plan: "starter" }))).status).toBe(201);
    const changed = await hook(entitlementEvent("ENTITLEMENT_PLAN_CHANGED", "replan", { plan: "bench" }));
    expect(changed.status).toBe(200);
    const status = await json(await svc.request("GET", "/v1/tenants/replan", { token: svc.credentials.tokens.operator }));
    expect(status).toMatchObject({ plan: "bench", concurrency: 64 });
    // The same change delivered again (a new webhook id, as after a restart) changes nothing.
    const size = (await readLedger(svc, "replan")).length;
    const again = await hook(entitlementEvent("ENTITLEMENT_PLAN_CHANGED", "replan", { plan: "bench" }));
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ already: true });
    expect(await readLedger(svc, "replan")).toHaveLength(size);
  });

  it("provisioning an active tenant again is idempotent", async () => {
    expect((await hook(entitlementEvent("ENTITLEMENT_ACTIVE", "twice"))).status).toBe(201);
    const second = await hook(entitlementEvent("ENTITLEMENT_ACTIVE", "twice"));
    expect(second.status).toBe(200);
    expect(await json(second)).toMatchObject({ already: true });
    expect(await readLedger(svc, "twice")).toHaveLength(1);
  });

  it("records an event type it does not act on, on the platform ledger", async () => {
    const res = await hook(entitlementEvent("ENTITLEMENT_OFFER_ACCEPTED", "someone"));
    expect(res.status).toBe(202);
    const platform = await readLedger(svc, "_platform");
    expect(platform.at(-1)).toMatchObject({ operation: "marketplace_event_recorded", event_type: "ENTITLEMENT_OFFER_ACCEPTED" });
    expect(platform.at(-1)).not.toHaveProperty("account_id");
  });
});

describe("bad input: each a clear 4xx with a stable code, and nothing changed", () => {
  const event = () => entitlementEvent("ENTITLEMENT_ACTIVE", `bad-${randomBytes(4).toString("hex")}`);
  const post = (headers: Record<string, string>, body: string) =>
    fetch(`${svc.url}/v1/marketplace/events`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

  it("missing signature headers → 401 WEBHOOK_HEADERS_MISSING", async () => {
    const res = await post({}, JSON.stringify(event()));
    expect(res.status).toBe(401);
    expect((await json(res)).error?.code).toBe("WEBHOOK_HEADERS_MISSING");
  });

  it("a signature by a secret that is not active → 401 WEBHOOK_SIGNATURE_INVALID", async () => {
    const res = await hook(event(), { secret: `whsec_${randomBytes(32).toString("base64")}` });
    expect(res.status).toBe(401);
    expect((await json(res)).error?.code).toBe("WEBHOOK_SIGNATURE_INVALID");
  });

  it("an expired timestamp → 401 WEBHOOK_TIMESTAMP_EXPIRED; a future one → WEBHOOK_TIMESTAMP_IN_FUTURE", async () => {
    const old = await hook(event(), { secret: SECRET_A, timestamp: new Date(Date.now() - 6 * 60_000) });
    expect(old.status).toBe(401);
    expect((await json(old)).error?.code).toBe("WEBHOOK_TIMESTAMP_EXPIRED");
    const future = await hook(event(), { secret: SECRET_A, timestamp: new Date(Date.now() + 6 * 60_000) });
    expect(future.status).toBe(401);
    expect((await json(future)).error?.code).toBe("WEBHOOK_TIMESTAMP_IN_FUTURE");
  });

  it("a replayed webhook id returns the first result and changes nothing", async () => {
    const e = event();
    const first = await hook(e, { id: "msg_replayed_1", secret: SECRET_A });
    expect(first.status).toBe(201);
    const replay = await hook({ ...e, eventId: "evt-other" }, { id: "msg_replayed_1", secret: SECRET_A });
    expect(replay.status).toBe(201);
    expect(await readLedger(svc, e.entitlement.account_id)).toHaveLength(1);
  });

  it("malformed JSON → 400 BODY_INVALID_JSON", async () => {
    const res = await svc.request("POST", "/v1/tenants/acme/signals", { body: "{not json" });
    expect(res.status).toBe(400);
    expect((await json(res)).error?.code).toBe("BODY_INVALID_JSON");
  });

  it("a body over the limit → 413 BODY_TOO_LARGE", async () => {
    const res = await svc.request("POST", "/v1/tenants/acme/signals", { body: { signal_id: "big", action: "noop", params: { pad: "x".repeat(5000) } } });
    expect(res.status).toBe(413);
    expect((await json(res)).error?.code).toBe("BODY_TOO_LARGE");
  });

  it("missing fields → 400 BODY_INVALID naming them", async () => {
    const res = await signal("replan", { action: "noop" });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error?.code).toBe("BODY_INVALID");
    expect(body.error?.message).toMatch(/signal_id/);
  });

  it("an unknown SKU or plan → 422, with an entitlement_failed receipt", async () => {
    const sku = await hook(entitlementEvent("ENTITLEMENT_ACTIVE", "nosku", { sku: "nope" }));
    expect(sku.status).toBe(422);
    expect((await json(sku)).error?.code).toBe("MARKETPLACE_UNKNOWN_SKU");
    const plan = await hook(entitlementEvent("ENTITLEMENT_ACTIVE", "noplan", { plan: "platinum" }));
    expect(plan.status).toBe(422);
    expect((await json(plan)).error?.message).toMatch(/no plan "platinum"; its plans: starter, bench/);
    expect((await readLedger(svc, "noplan")).map((r) => r["operation"])).toEqual(["entitlement_failed"]);
    expect((await svc.request("POST", "/v1/tenants/noplan/tokens")).status).toBe(404);
    const s = await signal("noplan", { signal_id: "x", action: "noop" }, svc.credentials.tokens.admin);
    expect(s.status).toBe(404);
  });

  it("a signal to an unknown tenant → 404 TENANT_UNKNOWN", async () => {
    const res = await signal("ghost", { signal_id: "s", action: "noop" }, svc.credentials.tokens.admin);
    expect(res.status).toBe(404);
    expect((await json(res)).error?.code).toBe("TENANT_UNKNOWN");
  });

  it("a refused action → 4xx with its code, and a receipt", async () => {
    const res = await signal("replan", { signal_id: "r1", action: "noop", params: { note: 5 } });
    expect(res.status).toBe(400);
    expect((await json(res)).error?.code).toBe("SIGNAL_INVALID_PARAMS");
    expect((await readLedger(svc, "replan")).at(-1)).toMatchObject({ operation: "action_refused", code: "invalid_params", signal_id: "r1" });
  });

  it("no token → 401; a wrong token → 401; a token without the scope → 403", async () => {
    const none = await svc.request("GET", "/v1/tenants/replan", { token: null });
    expect(none.status).toBe(401);
    expect((await json(none)).error?.code).toBe("AUTH_TOKEN_MISSING");
    const wrong = await svc.request("GET", "/v1/tenants/replan", { token: "gov_operator_nope" });
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).error?.code).toBe("AUTH_TOKEN_INVALID");
    const scope = await svc.request("GET", "/v1/tenants/replan", { token: await tenantToken("replan") });
    expect(scope.status).toBe(403);
    expect((await json(scope)).error?.code).toBe("AUTH_SCOPE_FORBIDDEN");
    const auditor = await svc.request("POST", "/v1/tenants/replan/signals", { token: svc.credentials.tokens.auditor, body: { signal_id: "a", action: "noop" } });
    expect(auditor.status).toBe(403);
  });
});

describe("operations", () => {
  it("serves health, readiness, status and Prometheus metrics", async () => {
    expect((await svc.request("GET", "/healthz", { token: null })).status).toBe(200);
    expect(await json(await svc.request("GET", "/readyz", { token: null }))).toMatchObject({ ready: true, safe_mode: false });
    expect(await json(await svc.request("GET", "/v1/status", { token: svc.credentials.tokens.operator }))).toMatchObject({ status: "ok", backend: "embedded" });
    const metrics = await (await svc.request("GET", "/metrics", { token: null })).text();
    expect(metrics).toMatch(/governor_signals_total\{outcome="started"\} \d+/);
    expect(metrics).toMatch(/governor_governors\{state="active"\} \d+/);
  });

  it("keeps credentials in a 0600 file and secrets out of the logs", () => {
    expect(statSync(join(svc.dataDir, "credentials.json")).mode & 0o777).toBe(0o600);
    const logs = svc.logs.join("\n");
    expect(logs).toContain("credentials.json");
    for (const token of Object.values(svc.credentials.tokens)) expect(logs).not.toContain(token);
    expect(logs).not.toContain(SECRET_A.slice(6, 30));
    expect(logs).not.toContain(svc.credentials.webhook_secrets[0]!.slice(6, 30));
  });

  it("shuts down on SIGTERM: exit 0, with everything checkpointed", async () => {
    const own = await startService();
    expect((await own.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "term"))).status).toBe(201);
    expect((await own.request("POST", "/v1/tenants/term/signals", { token: await own.tenantToken("term"), body: { signal_id: "t1", action: "noop" } })).status).toBe(202);
    own.proc.kill("SIGTERM");
    const { code } = await own.exited;
    expect(code).toBe(0);
    const again = await startService({ dataDir: own.dataDir });
    try {
      const size = (await readLedger(again, "term")).length;
      const note = await (await again.request("GET", "/v1/tenants/term/checkpoint", { token: again.credentials.tokens.auditor })).text();
      expect(note.split("\n")[1]).toBe(String(size));
    } finally {
      await again.kill();
    }
  });
});
