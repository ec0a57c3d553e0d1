/**
 * The Partner Procurement API adapter, with Google's generated client,
 * against the API's HTTP double: what each port method asks and how it reads
 * the answer, the state rules, and every way a call can fail.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cloudcommerceprocurement } from "@googleapis/cloudcommerceprocurement";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createProcurementApi } from "../../src/adapters/gcp/procurement-api.ts";
import { cutToUtf8Bytes, MAX_REJECTION_REASON_BYTES, ProcurementApiError, type ProcurementApi } from "../../src/ports/index.ts";
import { startProcurementDouble, type ProcurementDouble } from "../support/procurement-double.ts";

const providerId = "governor-test";
let double: ProcurementDouble;
let api: ProcurementApi;

beforeAll(async () => {
  double = await startProcurementDouble({ providerId });
  api = createProcurementApi({ providerId, rootUrl: double.url, auth: "none", timeoutMs: 2_000 });
});
afterAll(async () => {
  await double.close();
});
beforeEach(() => {
  double.down = false;
  double.hang = false;
});

const fresh = (prefix: string) => `${prefix}-${randomUUID()}`;

/** What the call threw, which must be a ProcurementApiError. */
async function refusal(call: Promise<unknown>): Promise<ProcurementApiError> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProcurementApiError);
  return err as ProcurementApiError;
}

const callsFor = (id: string) => double.calls.filter((c) => c.name.endsWith(`/${id}`));
const bytes = (s: string) => Buffer.byteLength(s, "utf8");

describe("reading entitlements", () => {
  it("reads an entitlement as the port's shape", async () => {
    const account = fresh("acct");
    const stored = double.putEntitlement({
      id: fresh("ent"),
      account,
      product: "demo",
      productExternalName: "demo.endpoints.example.cloud.goog",
      plan: "starter",
      state: "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL",
      newPendingPlan: "bench",
      usageReportingId: "project_number:1234",
      newOfferStartTime: "2030-01-01T00:00:00Z",
      inputProperties: { region: "europe-west1", seats: 4 },
      cancellationReason: "CANCELLED_BY_CUSTOMER",
    });
    expect(await api.getEntitlement(stored.id)).toEqual({
      id: stored.id,
      accountId: account,
      product: "demo.endpoints.example.cloud.goog",
      plan: "starter",
      state: "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL",
      newPendingPlan: "bench",
      usageReportingId: "project_number:1234",
      updateTime: stored.updateTime,
      newOfferStartTime: "2030-01-01T00:00:00Z",
      region: "europe-west1",
      cancellationReason: "CANCELLED_BY_CUSTOMER",
    });
    expect(callsFor(stored.id).map((c) => [c.method, c.name])).toEqual([["get", `providers/${providerId}/entitlements/${stored.id}`]]);
  });

  it("falls back to the product id, and reads a region that is not a string as none", async () => {
    const stored = double.putEntitlement({ id: fresh("ent"), account: fresh("acct"), product: "demo", productExternalName: null, plan: "starter", state: "ENTITLEMENT_ACTIVE", inputProperties: { region: { name: "eu" } } });
    expect(await api.getEntitlement(stored.id)).toMatchObject({ product: "demo", region: null, newPendingPlan: null, usageReportingId: null, newOfferStartTime: null, cancellationReason: null });
  });

  it("answers null for an entitlement or an account that does not exist", async () => {
    expect(await api.getEntitlement(fresh("missing"))).toBeNull();
    expect(await api.getAccount(fresh("missing"))).toBeNull();
  });

  it("lists the provider's entitlements page by page", async () => {
    const product = fresh("listed");
    const ids = ["a", "b", "c", "d", "e"].map((s) => double.putEntitlement({ id: `${product}-${s}`, account: "acct", product, plan: "starter", state: "ENTITLEMENT_ACTIVE" }).id);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await api.listEntitlements(token, 2);
      expect(page.entitlements.length).toBeLessThanOrEqual(2);
      seen.push(...page.entitlements.filter((e) => e.product === product).map((e) => e.id));
      token = page.nextPageToken ?? undefined;
      pages++;
    } while (token !== undefined && pages < 1000);
    expect(seen).toEqual(ids);
    const lists = double.calls.filter((c) => c.method === "list" && c.resource === "entitlements");
    expect(lists[0]).toMatchObject({ name: `providers/${providerId}`, query: { pageSize: "2" } });
    expect(lists.at(-1)!.query["pageToken"]).toBeDefined();
  });

  it("asks for at most 200 a page", async () => {
    await api.listEntitlements(undefined, 10_000);
    expect(double.calls.at(-1)!.query).toEqual({ pageSize: "200" });
  });
});

describe("accounts", () => {
  it("reads an account with its approvals", async () => {
    const id = fresh("acct");
    const stored = double.putAccount({ id });
    expect(await api.getAccount(id)).toEqual({ id, state: "ACCOUNT_ACTIVATION_REQUESTED", approvals: [{ name: "signup", state: "PENDING", reason: null }], updateTime: stored.updateTime });
  });

  it("approves the sign-up: the approval is APPROVED and the account ACCOUNT_ACTIVE", async () => {
    const id = fresh("acct");
    const before = double.putAccount({ id });
    await api.approveAccount(id, "signup", "linked to tenant t-1");
    expect(callsFor(id).at(-1)).toMatchObject({ method: "approve", resource: "accounts", body: { approvalName: "signup", reason: "linked to tenant t-1" }, status: 200 });
    const after = await api.getAccount(id);
    expect(after).toMatchObject({ state: "ACCOUNT_ACTIVE", approvals: [{ name: "signup", state: "APPROVED", reason: "linked to tenant t-1" }] });
    expect(after!.updateTime! > before.updateTime).toBe(true);
  });

  it("sends no reason when none is given", async () => {
    const id = fresh("acct");
    double.putAccount({ id });
    await api.approveAccount(id, "signup");
    expect(callsFor(id).at(-1)!.body).toEqual({ approvalName: "signup" });
  });

  it("refuses to approve an account that does not exist, for good", async () => {
    const err = await refusal(api.approveAccount(fresh("missing"), "signup"));
    expect(err).toMatchObject({ retryable: false, status: 404, code: "PROCUREMENT_API_REFUSED" });
  });
});

describe("approvals and rejections", () => {
  const requested = () => double.putEntitlement({ id: fresh("ent"), account: fresh("acct"), product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVATION_REQUESTED" });

  it("approves an entitlement awaiting activation", async () => {
    const e = requested();
    await api.approveEntitlement(e.id);
    expect(callsFor(e.id).at(-1)).toMatchObject({ method: "approve", resource: "entitlements", status: 200 });
    expect(double.entitlement(e.id)!.state).toBe("ENTITLEMENT_ACTIVE");
  });

  it("refuses, for good, to approve an entitlement in another state", async () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    const err = await refusal(api.approveEntitlement(e.id));
    expect(err).toMatchObject({ retryable: false, status: 400, code: "PROCUREMENT_API_REFUSED" });
    expect(err.message).toContain("providers.entitlements.approve");
    expect(err.message).toContain("400");
    expect(err.message).toContain("FAILED_PRECONDITION");
  });

  it("rejects with a reason cut to 256 bytes at a character boundary", async () => {
    const e = requested();
    // 1 + 100 × 4 bytes: the 64th emoji would end at byte 257, so the cut falls inside it.
    const reason = `a${"😀".repeat(100)}`;
    await api.rejectEntitlement(e.id, reason);
    const sent = (callsFor(e.id).at(-1)!.body as { reason: string }).reason;
    expect(bytes(sent)).toBe(253);
    expect(sent).toBe(`a${"😀".repeat(63)}`);
    expect(double.entitlement(e.id)).toMatchObject({ state: "ENTITLEMENT_CANCELLED", messageToUser: sent });
  });

  it("sends a reason that fits as it is", async () => {
    const e = requested();
    const reason = "é".repeat(MAX_REJECTION_REASON_BYTES / 2);
    await api.rejectEntitlement(e.id, reason);
    expect((callsFor(e.id).at(-1)!.body as { reason: string }).reason).toBe(reason);
  });

  it("approves a plan change for the plan pending, and Google then completes it", async () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL", newPendingPlan: "bench" });
    await api.approvePlanChange(e.id, "bench");
    expect(callsFor(e.id).at(-1)).toMatchObject({ method: "approvePlanChange", body: { pendingPlanName: "bench" }, status: 200 });
    expect(double.entitlement(e.id)!.state).toBe("ENTITLEMENT_PENDING_PLAN_CHANGE");
    double.completePlanChange(e.id);
    expect(await api.getEntitlement(e.id)).toMatchObject({ state: "ENTITLEMENT_ACTIVE", plan: "bench", newPendingPlan: null });
  });

  it("refuses, for good, a plan change for another plan than the one pending", async () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL", newPendingPlan: "bench" });
    const err = await refusal(api.approvePlanChange(e.id, "platinum"));
    expect(err).toMatchObject({ retryable: false, status: 400 });
    expect(double.entitlement(e.id)!.state).toBe("ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL");
  });

  it("rejects a plan change with a reason cut to 256 bytes", async () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL", newPendingPlan: "bench" });
    // 3-byte characters: 85 of them fill 255 bytes, the 86th would pass 256.
    await api.rejectPlanChange(e.id, "bench", "€".repeat(200));
    const body = callsFor(e.id).at(-1)!.body as { pendingPlanName: string; reason: string };
    expect(body).toEqual({ pendingPlanName: "bench", reason: "€".repeat(85) });
    expect(await api.getEntitlement(e.id)).toMatchObject({ state: "ENTITLEMENT_ACTIVE", plan: "starter", newPendingPlan: null });
  });
});

describe("failures", () => {
  const active = () => double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });

  it("is retryable while the API is down", async () => {
    const e = active();
    double.down = true;
    const err = await refusal(api.getEntitlement(e.id));
    expect(err).toMatchObject({ retryable: true, status: 503, code: "PROCUREMENT_API_UNAVAILABLE" });
    expect(err.message).toContain("providers.entitlements.get");
    expect(err.message).toContain("503");
    double.down = false;
    expect(await api.getEntitlement(e.id)).toMatchObject({ id: e.id });
  });

  it("tries each call once: the client does not retry", async () => {
    const e = active();
    double.failNext(1, 503);
    await refusal(api.getEntitlement(e.id));
    expect(callsFor(e.id).map((c) => c.status)).toEqual([503]);
  });

  it("is retryable after 429 and 5xx, and not after another 4xx", async () => {
    const e = active();
    for (const [status, retryable] of [
      [429, true],
      [500, true],
      [504, true],
      [403, false],
      [401, false],
    ] as const) {
      double.failNext(1, status);
      expect(await refusal(api.approveEntitlement(e.id))).toMatchObject({ status, retryable });
    }
  });

  it("gives up on an API that does not answer, at the deadline, as retryable", async () => {
    const e = active();
    const quick = createProcurementApi({ providerId, rootUrl: double.url, auth: "none", timeoutMs: 150 });
    double.hang = true;
    const err = await refusal(quick.getEntitlement(e.id));
    expect(err).toMatchObject({ retryable: true, status: null });
    expect(err.message).toContain("did not answer within 150 ms");
  });

  it("is retryable when nothing listens at the address", async () => {
    const gone = await startProcurementDouble({ providerId });
    await gone.close();
    const err = await refusal(createProcurementApi({ providerId, rootUrl: gone.url, auth: "none", timeoutMs: 2_000 }).getEntitlement("e"));
    expect(err).toMatchObject({ retryable: true, status: null });
  });

  it("refuses, for good, an answer that does not parse, naming the field", async () => {
    const e = active();
    double.answerNext({ name: `providers/${providerId}/entitlements/${e.id}`, plan: 42, state: "ENTITLEMENT_ACTIVE", product: "demo" });
    const err = await refusal(api.getEntitlement(e.id));
    expect(err).toMatchObject({ retryable: false, status: null });
    expect(err.message).toContain("plan");

    double.answerNext({ name: `providers/${providerId}/entitlements/${e.id}`, plan: "p".repeat(1025), state: "ENTITLEMENT_ACTIVE", product: "demo" });
    expect((await refusal(api.getEntitlement(e.id))).message).toContain("plan");

    double.answerNext({ name: `providers/${providerId}/entitlements/${"x".repeat(257)}`, plan: "starter", state: "ENTITLEMENT_ACTIVE", product: "demo" });
    expect((await refusal(api.getEntitlement(e.id))).message).toContain("name");

    double.answerNext({ name: `providers/${providerId}/entitlements/${e.id}`, plan: "starter", state: "ENTITLEMENT_ACTIVE", product: "demo", updateTime: "yesterday" });
    expect((await refusal(api.getEntitlement(e.id))).message).toContain("updateTime");

    double.answerNext({ name: `providers/${providerId}/entitlements/${e.id}`, plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    expect((await refusal(api.getEntitlement(e.id))).message).toContain("product");

    double.answerNext({ entitlements: [{ name: `providers/${providerId}/entitlements/x`, plan: "starter", product: "demo" }] });
    expect((await refusal(api.listEntitlements())).message).toContain("entitlements.0.state");

    double.answerNext({ name: `providers/${providerId}/accounts/a`, state: "ACCOUNT_ACTIVE", approvals: "signup" });
    expect((await refusal(api.getAccount("a"))).message).toContain("approvals");
  });

  it("refuses an id that is not one before asking", async () => {
    const before = double.calls.length;
    for (const bad of ["", "a/b", "x".repeat(257)]) {
      expect(await refusal(api.getEntitlement(bad))).toMatchObject({ retryable: false, status: null });
    }
    expect(double.calls.length).toBe(before);
  });
});

/**
 * Application Default Credentials from a workload identity configuration
 * whose token exchange is a local server: the adapter's `adc` path, with
 * Google's own auth library, and no Google endpoint.
 */
async function withWorkloadIdentity<T>(answer: { status: number; body: unknown }, run: () => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "governor-adc-"));
  const sts = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => sts.listen(0, "127.0.0.1", resolve));
  const saved = process.env["GOOGLE_APPLICATION_CREDENTIALS"];
  try {
    writeFileSync(join(dir, "subject"), SUBJECT_TOKEN);
    writeFileSync(
      join(dir, "credentials.json"),
      JSON.stringify({
        type: "external_account",
        audience: "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/test",
        subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
        token_url: `http://127.0.0.1:${(sts.address() as { port: number }).port}/v1/token`,
        credential_source: { file: join(dir, "subject") },
      }),
    );
    process.env["GOOGLE_APPLICATION_CREDENTIALS"] = join(dir, "credentials.json");
    return await run();
  } finally {
    if (saved === undefined) delete process.env["GOOGLE_APPLICATION_CREDENTIALS"];
    else process.env["GOOGLE_APPLICATION_CREDENTIALS"] = saved;
    sts.closeAllConnections();
    await new Promise<void>((resolve) => sts.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

const SUBJECT_TOKEN = "subject-token-not-to-be-seen";
const ACCESS_TOKEN = "access-token-not-to-be-seen";
const granted = { status: 200, body: { access_token: ACCESS_TOKEN, issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: "Bearer", expires_in: 3600 } };

describe("credentials", () => {
  it("with auth adc, sends the token Application Default Credentials give, and no error carries it", async () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    await withWorkloadIdentity(granted, async () => {
      const adc = createProcurementApi({ providerId, rootUrl: double.url, auth: "adc", timeoutMs: 2_000 });
      expect(await adc.getEntitlement(e.id)).toMatchObject({ id: e.id });
      expect(callsFor(e.id).at(-1)!.headers["authorization"]).toBe(`Bearer ${ACCESS_TOKEN}`);
      double.failNext(1, 401);
      const err = await refusal(adc.getEntitlement(e.id));
      expect(err).toMatchObject({ status: 401, retryable: false });
      expect(err.cause).toBeUndefined();
      for (const shown of [err.message, err.stack ?? "", JSON.stringify(err)]) {
        expect(shown).not.toContain(ACCESS_TOKEN);
        expect(shown).not.toContain(SUBJECT_TOKEN);
      }
    });
  });

  it("with auth adc, a refused token exchange is retryable and says so without the credentials", async () => {
    await withWorkloadIdentity({ status: 400, body: { error: "invalid_grant", error_description: `bad subject ${SUBJECT_TOKEN}` } }, async () => {
      const before = double.calls.length;
      const err = await refusal(createProcurementApi({ providerId, rootUrl: double.url, auth: "adc", timeoutMs: 2_000 }).getEntitlement("e"));
      expect(err).toMatchObject({ retryable: true, status: null });
      expect(err.message).toContain("no credentials");
      expect(JSON.stringify(err) + err.message + (err.stack ?? "")).not.toContain(SUBJECT_TOKEN);
      expect(double.calls.length).toBe(before);
    });
  });

  it("sends no Authorization header with auth none", async () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVATION_REQUESTED" });
    const before = double.calls.length;
    await api.getEntitlement(e.id);
    await api.approveEntitlement(e.id);
    await api.listEntitlements();
    const sent = double.calls.slice(before);
    expect(sent.map((c) => c.method)).toEqual(["get", "approve", "list"]);
    for (const c of sent) {
      expect(c.headers["authorization"]).toBeUndefined();
      expect(c.query["key"]).toBeUndefined();
    }
  });
});

describe("cutToUtf8Bytes", () => {
  it("never splits a character, whatever the limit", () => {
    const text = "aé€😀".repeat(20);
    for (let max = 0; max <= bytes(text) + 1; max++) {
      const cut = cutToUtf8Bytes(text, max);
      expect(bytes(cut)).toBeLessThanOrEqual(max);
      expect(text.startsWith(cut)).toBe(true);
      expect(Buffer.from(cut, "utf8").toString("utf8")).toBe(cut);
      // As long as the next character would not fit.
      const next = text.slice(cut.length).codePointAt(0);
      if (next !== undefined) expect(bytes(cut) + bytes(String.fromCodePoint(next))).toBeGreaterThan(max);
    }
  });
});

describe("the double", () => {
  const client = () => cloudcommerceprocurement({ version: "v1", rootUrl: double.url, retry: false });

  it("keeps Google's account rules: reject marks the approval, reset cancels the account's entitlements", async () => {
    const id = fresh("acct");
    double.putAccount({ id, state: "ACCOUNT_ACTIVE", approvals: [{ name: "signup", state: "APPROVED" }] });
    const e = double.putEntitlement({ id: fresh("ent"), account: id, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    const name = `providers/${providerId}/accounts/${id}`;
    await client().providers.accounts.reject({ name, requestBody: { approvalName: "signup", reason: "no" } });
    expect(double.approvals(id)).toMatchObject([{ name: "signup", state: "REJECTED", reason: "no" }]);
    await client().providers.accounts.reset({ name, requestBody: {} });
    expect(double.account(id)).toMatchObject({ state: "ACCOUNT_ACTIVATION_REQUESTED", approvals: [{ name: "signup", state: "PENDING" }] });
    expect(double.entitlement(e.id)!.state).toBe("ENTITLEMENT_CANCELLED");
    const err = await client()
      .providers.accounts.approve({ name, requestBody: {} })
      .then(() => null, (x: unknown) => x as { status?: number });
    expect(err?.status).toBe(400);
  });

  it("suspends only an active entitlement, and answers Google's error shape otherwise", async () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    const name = `providers/${providerId}/entitlements/${e.id}`;
    await client().providers.entitlements.suspend({ name, requestBody: {} });
    expect(double.entitlement(e.id)!.state).toBe("ENTITLEMENT_SUSPENDED");
    const err = await client()
      .providers.entitlements.suspend({ name, requestBody: {} })
      .then(() => null, (x: unknown) => x as { status?: number; response?: { data?: unknown } });
    expect(err?.status).toBe(400);
    expect(err?.response?.data).toMatchObject({ error: { code: 400, status: "FAILED_PRECONDITION" } });
  });

  it("lists by filter, answers a method it does not know 501 and records it", async () => {
    const account = fresh("acct");
    const mine = double.putEntitlement({ id: fresh("ent"), account, product: "demo", plan: "starter", state: "ENTITLEMENT_ACTIVE" });
    const res = await client().providers.entitlements.list({ parent: `providers/${providerId}`, filter: `account=${account}` });
    expect(res.data.entitlements?.map((x) => x.name)).toEqual([`providers/${providerId}/entitlements/${mine.id}`]);
    const err = await client()
      .providers.entitlements.patch({ name: `providers/${providerId}/entitlements/${mine.id}`, updateMask: "plan", requestBody: { plan: "bench" } })
      .then(() => null, (x: unknown) => x as { status?: number });
    expect(err?.status).toBe(501);
    expect(double.unknown.at(-1)).toMatch(/^PATCH \/v1\/providers\/.*\/entitlements\//);
  });

  it("builds Google's notification with a fresh eventId and the resource's current updateTime", () => {
    const e = double.putEntitlement({ id: fresh("ent"), account: "acct", product: "demo", plan: "starter", state: "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL", newPendingPlan: "bench" });
    const first = double.notification("ENTITLEMENT_PLAN_CHANGE_REQUESTED", { entitlement: { id: e.id, newPlan: "bench" } });
    expect(first).toEqual({ eventId: expect.any(String), eventType: "ENTITLEMENT_PLAN_CHANGE_REQUESTED", providerId, entitlement: { id: e.id, updateTime: e.updateTime, newPlan: "bench" } });
    const later = double.setState(e.id, "ENTITLEMENT_PENDING_PLAN_CHANGE");
    expect(later.updateTime > e.updateTime).toBe(true);
    const second = double.notification("ENTITLEMENT_PLAN_CHANGED", { entitlement: { id: e.id } });
    expect(second.eventId).not.toBe(first.eventId);
    expect(second.entitlement).toEqual({ id: e.id, updateTime: later.updateTime });
    const account = double.putAccount({ id: fresh("acct") });
    expect(double.notification("ACCOUNT_ACTIVE", { account: { id: account.id } })).toMatchObject({ eventType: "ACCOUNT_ACTIVE", providerId, account: { id: account.id, updateTime: account.updateTime } });
  });
});
