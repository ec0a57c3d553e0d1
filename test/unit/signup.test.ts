/**
 * MarketplaceSignup over an in-memory Procurement API and a verifier double:
 * what is approved, what is recorded, and that a refused token or a failing
 * API changes nothing.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MarketplaceSignup } from "../../src/app/signup.ts";
import { SignupTokenError, type SignupClaims, type SignupTokenErrorCode } from "../../src/ports/index.ts";
import type { Receipt, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { ProcurementApiError, StoreUnavailableError, type ProcurementAccount, type ProcurementApi } from "../../src/ports/index.ts";

/** The accounts Google holds, and every call made to it. */
class MemoryProcurementApi implements ProcurementApi {
  readonly accounts = new Map<string, ProcurementAccount>();
  readonly calls: string[] = [];
  /** The next calls fail with this. */
  failWith: ProcurementApiError | null = null;

  #call(name: string): void {
    this.calls.push(name);
    if (this.failWith !== null) throw this.failWith;
  }
  getEntitlement(): Promise<never> {
    throw new Error("not used by sign-up");
  }
  listEntitlements(): Promise<never> {
    throw new Error("not used by sign-up");
  }
  async getAccount(id: string) {
    this.#call(`getAccount ${id}`);
    return this.accounts.get(id) ?? null;
  }
  async approveAccount(id: string, approvalName: string) {
    this.#call(`approveAccount ${id} ${approvalName}`);
    const a = this.accounts.get(id);
    if (a === undefined) throw new ProcurementApiError("not found", { retryable: false, status: 404 });
    this.accounts.set(id, { ...a, state: "ACCOUNT_ACTIVE", approvals: [{ name: approvalName, state: "APPROVED", reason: null }] });
  }
  approveEntitlement(): Promise<never> {
    throw new Error("not used by sign-up");
  }
  rejectEntitlement(): Promise<never> {
    throw new Error("not used by sign-up");
  }
  approvePlanChange(): Promise<never> {
    throw new Error("not used by sign-up");
  }
  rejectPlanChange(): Promise<never> {
    throw new Error("not used by sign-up");
  }
}

const pendingAccount = (id: string): ProcurementAccount => ({ id, state: "ACCOUNT_ACTIVATION_REQUESTED", approvals: [{ name: "signup", state: "PENDING", reason: null }], updateTime: null });

/** Tokens the double knows: `good:<account>` verifies; `bad:<code>` is refused with that code. */
const verifier = {
  async verify(token: string): Promise<SignupClaims> {
    const [kind, rest = ""] = token.split(":");
    if (kind === "good") return { accountId: rest, orders: [], userIdentity: null };
    throw new SignupTokenError(rest as SignupTokenErrorCode, `refused: ${rest}`);
  },
};

function rig(options: { degraded?: boolean; tenants?: Record<string, string[]>; recordFails?: boolean } = {}) {
  const api = new MemoryProcurementApi();
  const receipts: ReceiptDraft[] = [];
  const health = { degraded: options.degraded ?? false };
  const signup = new MarketplaceSignup({
    verifier,
    procurement: api,
    recordPlatform: async (draft) => {
      if (options.recordFails === true) throw new StoreUnavailableError("the store is down");
      receipts.push(draft);
      return { ...draft, v: 1, ledger: "_platform", seq: receipts.length - 1, hash: "ab".repeat(32) } as unknown as Receipt;
    },
    tenantsOf: (id) => options.tenants?.[id] ?? [],
    clock: { now: () => 1000 },
    health,
    retryAfterS: 9,
    logger: pino({ level: "silent" }),
  });
  return { api, receipts, signup, health };
}

describe("MarketplaceSignup", () => {
  it("approves a pending account and records the sign-up with its tenants", async () => {
    const { api, receipts, signup } = rig({ tenants: { "acct-1": ["ent-1", "ent-2"] } });
    api.accounts.set("acct-1", pendingAccount("acct-1"));
    const outcome = await signup.signup("good:acct-1");
    expect(outcome).toEqual({
      status: 200,
      body: {
        procurement_account_id: "acct-1",
        tenants: ["ent-1", "ent-2"],
        approved: true,
        approved_now: true,
        receipt: { ledger: "_platform", seq: 0, operation: "marketplace_signup", hash: "ab".repeat(32) },
      },
    });
    expect(api.calls).toEqual(["getAccount acct-1", "approveAccount acct-1 signup"]);
    expect(receipts).toEqual([
      { operation: "marketplace_signup", status: "success", duration_ms: 0, procurement_account_id: "acct-1", approval_name: "signup", tenants: ["ent-1", "ent-2"], approved_now: true },
    ]);
  });

  it("does not approve an account approved already, and records that", async () => {
    const { api, receipts, signup } = rig();
    api.accounts.set("acct-1", pendingAccount("acct-1"));
    await signup.signup("good:acct-1");
    const again = await signup.signup("good:acct-1");
    expect(again).toMatchObject({ status: 200, body: { approved: true, approved_now: false } });
    expect(api.calls).toEqual(["getAccount acct-1", "approveAccount acct-1 signup", "getAccount acct-1"]);
    expect(receipts.map((r) => "approved_now" in r && r.approved_now)).toEqual([true, false]);
  });

  it("two sign-ups of one account at once: one approval", async () => {
    const { api, signup } = rig();
    api.accounts.set("acct-1", pendingAccount("acct-1"));
    const outcomes = await Promise.all([signup.signup("good:acct-1"), signup.signup("good:acct-1")]);
    expect(outcomes.map((o) => o.status === 200 && o.body.approved_now)).toEqual([true, false]);
    expect(api.calls.filter((c) => c.startsWith("approveAccount"))).toHaveLength(1);
  });

  it("an account the API does not know: 404 PROCUREMENT_ACCOUNT_UNKNOWN, nothing approved or recorded", async () => {
    const { api, receipts, signup } = rig();
    expect(await signup.signup("good:acct-9")).toMatchObject({ status: 404, code: "PROCUREMENT_ACCOUNT_UNKNOWN" });
    expect(api.calls).toEqual(["getAccount acct-9"]);
    expect(receipts).toEqual([]);
  });

  it.each([
    ["SIGNUP_TOKEN_INVALID", 401],
    ["SIGNUP_TOKEN_EXPIRED", 401],
    ["SIGNUP_TOKEN_ISSUER", 401],
    ["SIGNUP_TOKEN_AUDIENCE", 403],
  ])("a token refused with %s: %i, and nothing called or recorded", async (code, status) => {
    const { api, receipts, signup } = rig();
    expect(await signup.signup(`bad:${code}`)).toEqual({ status, code, message: `refused: ${code}` });
    expect(api.calls).toEqual([]);
    expect(receipts).toEqual([]);
  });

  it("certificates that cannot be fetched: 503 with Retry-After", async () => {
    const { api, signup } = rig();
    expect(await signup.signup("bad:SIGNUP_KEYS_UNAVAILABLE")).toMatchObject({ status: 503, code: "SIGNUP_KEYS_UNAVAILABLE", retryAfterS: 9 });
    expect(api.calls).toEqual([]);
  });

  it("the API down: 503 PROCUREMENT_API_UNAVAILABLE, nothing recorded; it refusing: 502, nothing recorded", async () => {
    const { api, receipts, signup } = rig();
    api.accounts.set("acct-1", pendingAccount("acct-1"));
    api.failWith = new ProcurementApiError("HTTP 503", { retryable: true, status: 503 });
    expect(await signup.signup("good:acct-1")).toMatchObject({ status: 503, code: "PROCUREMENT_API_UNAVAILABLE", retryAfterS: 9 });
    api.failWith = new ProcurementApiError("HTTP 403", { retryable: false, status: 403 });
    expect(await signup.signup("good:acct-1")).toMatchObject({ status: 502, code: "PROCUREMENT_API_REFUSED" });
    expect(receipts).toEqual([]);
    api.failWith = null;
    expect(await signup.signup("good:acct-1")).toMatchObject({ status: 200, body: { approved_now: true } });
  });

  it("in safe mode: 503 SAFE_MODE before anything is called", async () => {
    const { api, signup } = rig({ degraded: true });
    expect(await signup.signup("good:acct-1")).toMatchObject({ status: 503, code: "SAFE_MODE", retryAfterS: 9 });
    expect(api.calls).toEqual([]);
  });

  it("a receipt that cannot be written: 503 SIGNUP_NOT_DURABLE; the approval stands at Google", async () => {
    const { api, signup } = rig({ recordFails: true });
    api.accounts.set("acct-1", pendingAccount("acct-1"));
    expect(await signup.signup("good:acct-1")).toMatchObject({ status: 503, code: "SIGNUP_NOT_DURABLE" });
    expect(api.accounts.get("acct-1")?.approvals).toEqual([{ name: "signup", state: "APPROVED", reason: null }]);
  });

  it("an error that is not a refusal propagates", async () => {
    const broken = new MarketplaceSignup({
      verifier: { verify: () => Promise.reject(new TypeError("bug")) },
      procurement: new MemoryProcurementApi(),
      recordPlatform: () => Promise.reject(new Error("not reached")),
      tenantsOf: () => [],
      clock: { now: () => 0 },
      health: { degraded: false },
      retryAfterS: 1,
      logger: pino({ level: "silent" }),
    });
    await expect(broken.signup("t")).rejects.toThrow("bug");
  });
});
