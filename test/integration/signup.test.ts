/**
 * Sign-up end to end but in one process: a token minted by the stand-in
 * issuer, posted as Google's page posts it, through the HTTP route, the real
 * verifier (certificates over HTTP), MarketplaceSignup, and the real
 * Procurement API adapter (Google's generated client) against the API's
 * double. The receipt is sealed and held to its schema.
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProcurementApi } from "../../src/adapters/gcp/procurement-api.ts";
import { createSignupTokenVerifier } from "../../src/adapters/gcp/signup-token.ts";
import type { GovernorService } from "../../src/app/governor-service.ts";
import { MarketplaceSignup } from "../../src/app/signup.ts";
import { genesisHash, sealReceipt } from "../../src/ledger/hash.ts";
import { PLATFORM_LEDGER, Receipt, type ReceiptDraft } from "../../src/ledger/receipt.ts";
import { buildHttpServer } from "../../src/ingress/http/server.ts";
import { startProcurementDouble, type ProcurementDouble } from "../support/procurement-double.ts";
import { startSignupIssuer, type SignupIssuer } from "../support/signup-issuer.ts";

const audience = "signup.governor.example.com";
const providerId = "governor-test";

let issuer: SignupIssuer;
let double: ProcurementDouble;
let app: ReturnType<typeof buildHttpServer>["app"];
const platform: Receipt[] = [];
const tenantsByAccount = new Map<string, string[]>();

/** The platform ledger, sealed as the writer seals it, each receipt checked against its schema. */
async function recordPlatform(draft: ReceiptDraft): Promise<Receipt> {
  const seq = platform.length;
  const receipt = sealReceipt(draft, {
    ledger: PLATFORM_LEDGER,
    seq,
    prevHash: platform.at(-1)?.hash ?? genesisHash(PLATFORM_LEDGER),
    timestamp: new Date(Date.UTC(2026, 11, 4, 1, 0, seq)).toISOString(),
    receiptId: `01900000-0000-7000-8000-${seq.toString(16).padStart(12, "0")}`,
  });
  platform.push(Receipt.parse(receipt) as Receipt);
  return receipt;
}

beforeAll(async () => {
  issuer = await startSignupIssuer(audience);
  double = await startProcurementDouble({ providerId });
  const signup = new MarketplaceSignup({
    verifier: createSignupTokenVerifier({ certsUrl: issuer.url, audience, now: () => Date.now(), minRefreshMs: 0 }),
    procurement: createProcurementApi({ providerId, rootUrl: double.url, auth: "none", timeoutMs: 2000 }),
    recordPlatform,
    tenantsOf: (id) => tenantsByAccount.get(id) ?? [],
    clock: { now: () => Date.now() },
    health: { degraded: false },
    retryAfterS: 5,
    logger: pino({ level: "silent" }),
  });
  const service = {
    accepting: true,
    degraded: false,
    now: () => Date.now(),
    tenantCounts: () => ({}),
    health: () => ({ degraded: false, store: "ok" }),
    marketplaceSignup: (token: string) => signup.signup(token),
  } as unknown as GovernorService;
  app = buildHttpServer(service, {
    settings: { bodyLimitBytes: 64 * 1024, retryAfterS: 5, webhookToleranceS: 300 },
    credentials: { tokens: new Map(), webhookSecrets: [], signers: [], source: "test" },
    logger: pino({ level: "silent" }),
  }).app;
});
afterAll(async () => {
  await app.close();
  await double.close();
  await issuer.close();
});

const nowS = () => Math.floor(Date.now() / 1000);
const post = (token: string) =>
  app.inject({ method: "POST", url: "/v1/marketplace/signup", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: `x-gcp-marketplace-token=${encodeURIComponent(token)}` });
const callsFor = (account: string) => double.calls.filter((c) => c.name === `providers/${providerId}/accounts/${account}`);

describe("sign-up from Google Cloud Marketplace", () => {
  it("approves the account at the Procurement API and records it with its tenants", async () => {
    const account = `acct-${randomUUID()}`;
    double.putAccount({ id: account });
    tenantsByAccount.set(account, ["ent-a", "ent-b"]);
    const res = await post(await issuer.sign({ sub: account, google: { user_identity: "42", orders: ["ent-a", "ent-b"] } }, nowS()));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ procurement_account_id: account, tenants: ["ent-a", "ent-b"], approved: true, approved_now: true, receipt: { ledger: "_platform", operation: "marketplace_signup" } });
    expect(callsFor(account).map((c) => [c.method, c.body])).toEqual([
      ["get", null],
      ["approve", { approvalName: "signup" }],
    ]);
    expect(double.account(account)).toMatchObject({ state: "ACCOUNT_ACTIVE", approvals: [{ name: "signup", state: "APPROVED" }] });
    const receipt = platform.find((r) => r.hash === body.receipt.hash);
    expect(receipt).toMatchObject({ operation: "marketplace_signup", status: "success", procurement_account_id: account, approval_name: "signup", tenants: ["ent-a", "ent-b"], approved_now: true });
    expect(receipt?.seq).toBe(body.receipt.seq);
  });

  it("a second sign-up of the account approves nothing and records that", async () => {
    const account = `acct-${randomUUID()}`;
    double.putAccount({ id: account });
    expect((await post(await issuer.sign({ sub: account }, nowS()))).json()).toMatchObject({ approved_now: true, tenants: [] });
    const again = await post(await issuer.sign({ sub: account }, nowS()));
    expect([again.statusCode, again.json().approved_now]).toEqual([200, false]);
    expect(callsFor(account).map((c) => c.method)).toEqual(["get", "approve", "get"]);
  });

  it("an expired, foreign or forged token changes nothing", async () => {
    const account = `acct-${randomUUID()}`;
    double.putAccount({ id: account });
    const size = platform.length;
    const cases: [string, number, string][] = [
      [await issuer.sign({ sub: account, exp: nowS() - 60 }, nowS() - 400), 401, "SIGNUP_TOKEN_EXPIRED"],
      [await issuer.sign({ sub: account, aud: "another-partner.example.com" }, nowS()), 403, "SIGNUP_TOKEN_AUDIENCE"],
      [await issuer.sign({ sub: account, iss: "https://issuer.example.com" }, nowS()), 401, "SIGNUP_TOKEN_ISSUER"],
      [await issuer.sign({ sub: account }, nowS(), { alg: "none" }), 401, "SIGNUP_TOKEN_INVALID"],
    ];
    for (const [token, status, code] of cases) {
      const res = await post(token);
      expect([res.statusCode, res.json().error.code]).toEqual([status, code]);
      expect(res.body).not.toContain(token.split(".")[1]);
    }
    expect(callsFor(account)).toEqual([]);
    expect(double.account(account)?.state).toBe("ACCOUNT_ACTIVATION_REQUESTED");
    expect(platform.length).toBe(size);
  });

  it("an account the API does not know: 404 PROCUREMENT_ACCOUNT_UNKNOWN", async () => {
    const res = await post(await issuer.sign({ sub: `acct-${randomUUID()}` }, nowS()));
    expect([res.statusCode, res.json().error.code]).toEqual([404, "PROCUREMENT_ACCOUNT_UNKNOWN"]);
  });

  it("the API down: 503 with Retry-After, nothing recorded; the same token then goes through", async () => {
    const account = `acct-${randomUUID()}`;
    double.putAccount({ id: account });
    const token = await issuer.sign({ sub: account }, nowS());
    const size = platform.length;
    double.down = true;
    try {
      const res = await post(token);
      expect([res.statusCode, res.json().error.code, res.headers["retry-after"]]).toEqual([503, "PROCUREMENT_API_UNAVAILABLE", "5"]);
    } finally {
      double.down = false;
    }
    expect(platform.length).toBe(size);
    expect(double.account(account)?.state).toBe("ACCOUNT_ACTIVATION_REQUESTED");
    expect((await post(token)).json()).toMatchObject({ approved_now: true });
  });

  it("the certificates out of reach: 503 SIGNUP_KEYS_UNAVAILABLE, the API not called", async () => {
    const account = `acct-${randomUUID()}`;
    double.putAccount({ id: account });
    const fresh = new MarketplaceSignup({
      verifier: createSignupTokenVerifier({ certsUrl: issuer.url, audience, now: () => Date.now() }),
      procurement: createProcurementApi({ providerId, rootUrl: double.url, auth: "none", timeoutMs: 2000 }),
      recordPlatform,
      tenantsOf: () => [],
      clock: { now: () => Date.now() },
      health: { degraded: false },
      retryAfterS: 5,
      logger: pino({ level: "silent" }),
    });
    issuer.down = true;
    try {
      expect(await fresh.signup(await issuer.sign({ sub: account }, nowS()))).toMatchObject({ status: 503, code: "SIGNUP_KEYS_UNAVAILABLE", retryAfterS: 5 });
    } finally {
      issuer.down = false;
    }
    expect(callsFor(account)).toEqual([]);
  });
});
