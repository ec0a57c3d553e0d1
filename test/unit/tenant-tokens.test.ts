/**
 * The tenant token index on its own (a store in memory, a manual clock):
 * verification without I/O, last-use times written back coalesced, the order
 * of receipt and store on issue and revoke, and other runtimes' changes
 * picked up by the refresh.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Receipt, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { StoreUnavailableError, type TenantTokenStore } from "../../src/ports/index.ts";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.ts";
import { TenantTokens, TokenLimitError } from "../../src/app/tenant-tokens.ts";
import { ManualClock } from "../support/manual-clock.ts";

/** A store that counts its calls and fails the ones it is told to. */
function countingStore(inner: TenantTokenStore = createMemoryTokenStore()) {
  const calls: Record<string, number> = {};
  const failing = new Set<string>();
  const store = new Proxy(inner, {
    get(target, prop: string) {
      const fn = (target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[prop]!;
      return (...args: unknown[]) => {
        calls[prop] = (calls[prop] ?? 0) + 1;
        if (failing.has(prop)) return Promise.reject(new StoreUnavailableError(`${prop} failed`));
        return fn.apply(target, args);
      };
    },
  });
  return { store, calls, failing, inner };
}

function setup(options: { store?: TenantTokenStore; states?: Record<string, string>; failRecord?: (draft: ReceiptDraft) => boolean } = {}) {
  const clock = new ManualClock(Date.parse("2026-12-03T10:00:00.000Z"));
  const receipts: { account: string; draft: ReceiptDraft }[] = [];
  const alerts: string[] = [];
  const tokens = new TenantTokens({
    store: options.store ?? createMemoryTokenStore(),
    record: async (account, draft) => {
      if (options.failRecord?.(draft)) throw new StoreUnavailableError("the ledger is failing");
      receipts.push({ account, draft });
      return { ...draft, ledger: account, seq: receipts.length - 1, hash: "0".repeat(64) } as unknown as Receipt;
    },
    stateOf: (account) => options.states?.[account] ?? "active",
    clock,
    logger: pino({ level: "silent" }),
    alerts: { alert: (a) => void alerts.push(a.code) },
  });
  return { clock, receipts, alerts, tokens };
}

/** Lets the promises a timer started settle. */
const settle = () => new Promise((r) => setImmediate(r));

describe("tenant tokens", () => {
  it("verifies a token from memory: its own tenant, nothing for another string; a revoked one at once no more", async () => {
    const { store, calls } = countingStore();
    const { tokens } = setup({ store });
    await tokens.start();
    const { token, tokenId } = await tokens.issue("acme", "operator");
    const reads = { ...calls };
    for (let i = 0; i < 1000; i++) expect(tokens.verify(token)).toEqual({ account: "acme", tokenId });
    expect(tokens.verify(`${token}x`)).toBeNull();
    expect(tokens.verify("")).toBeNull();
    expect(calls).toEqual(reads);
    await tokens.revoke("acme", tokenId, "admin");
    expect(tokens.verify(token)).toBeNull();
  });

  it("writes last-use times back at most once a minute, whatever the traffic", async () => {
    const { store, calls, inner } = countingStore();
    const { tokens, clock } = setup({ store });
    await tokens.start();
    const { token } = await tokens.issue("acme", "operator");
    for (let minute = 0; minute < 3; minute++) {
      for (let i = 0; i < 500; i++) {
        tokens.verify(token);
        clock.advance(100);
      }
      await settle();
    }
    // 150 s of steady use: written back twice (at 60 s and 120 s), never per request.
    expect(calls["touch"]).toBe(2);
    expect((await inner.list("acme"))[0]!.lastUsedAt).toBe("2026-12-03T10:01:59.900Z");
    // Then idle: the last uses are written once, then nothing more.
    clock.advance(180_000);
    await settle();
    expect(calls["touch"]).toBe(3);
    expect((await inner.list("acme"))[0]!.lastUsedAt).toBe("2026-12-03T10:02:29.900Z");
    clock.advance(180_000);
    await settle();
    expect(calls["touch"]).toBe(3);
    // The list shows the freshest use even before it is written back.
    tokens.verify(token);
    expect((await tokens.list("acme"))[0]!.lastUsedAt).toBe(new Date(clock.now()).toISOString());
    await tokens.stop();
    expect(calls["touch"]).toBe(4);
  });

  it("writes the issue receipt before the token is stored; a receipt that fails leaves no token", async () => {
    const { store, calls } = countingStore();
    const { tokens, receipts } = setup({ store, failRecord: (d) => d.operation === "tenant_token_issued" });
    await tokens.start();
    await expect(tokens.issue("acme", "admin")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(calls["issue"]).toBeUndefined();
    expect(await store.list("acme")).toEqual([]);
    expect(receipts).toEqual([]);
  });

  it("follows an issue receipt whose token could not be stored with a not_stored revocation; the token never works", async () => {
    const { store, failing } = countingStore();
    failing.add("issue");
    const { tokens, receipts } = setup({ store });
    await tokens.start();
    await expect(tokens.issue("acme", "operator")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(receipts.map((r) => r.draft)).toMatchObject([
      { operation: "tenant_token_issued", by: "operator" },
      { operation: "tenant_token_revoked", by: "governor", reason: "not_stored" },
    ]);
    const [issued, revoked] = receipts.map((r) => r.draft as { token_id: string });
    expect(revoked!.token_id).toBe(issued!.token_id);
  });

  it("refuses an eleventh token with no receipt; a race lost in the store gets a not_stored receipt", async () => {
    const { tokens, receipts } = setup();
    await tokens.start();
    for (let i = 0; i < 10; i++) await tokens.issue("acme", "operator");
    await expect(tokens.issue("acme", "operator")).rejects.toBeInstanceOf(TokenLimitError);
    expect(receipts).toHaveLength(10);

    // Another runtime filled the store while this one's index still had room.
    const shared = createMemoryTokenStore();
    const other = setup({ store: shared });
    const here = setup({ store: shared });
    await here.tokens.start();
    for (let i = 0; i < 10; i++) await other.tokens.issue("acme", "operator");
    await expect(here.tokens.issue("acme", "operator")).rejects.toBeInstanceOf(TokenLimitError);
    expect(here.receipts.map((r) => r.draft.operation)).toEqual(["tenant_token_issued", "tenant_token_revoked"]);
  });

  it("takes a revoked token out of use before the store is asked, and alerts when its receipt cannot be written", async () => {
    const { store, failing } = countingStore();
    const { tokens, alerts } = setup({ store, failRecord: (d) => d.operation === "tenant_token_revoked" });
    await tokens.start();
    const a = await tokens.issue("acme", "operator");
    failing.add("revoke");
    await expect(tokens.revoke("acme", a.tokenId, "operator")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(tokens.verify(a.token)).toBeNull();
    failing.delete("revoke");
    await expect(tokens.revoke("acme", a.tokenId, "operator")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(alerts).toEqual(["token_receipt_missing"]);
    expect(await store.list("acme")).toEqual([]);
  });

  it("picks up other runtimes' issues and revocations with its refresh, and revokes a decommissioned tenant's tokens at start", async () => {
    const shared = createMemoryTokenStore();
    const other = setup({ store: shared });
    const leftover = await other.tokens.issue("gone", "operator");
    const here = setup({ store: shared, states: { gone: "decommissioned" } });
    expect(await here.tokens.start()).toEqual({ tokens: 0, revoked: 1 });
    expect(here.receipts.map((r) => r.draft)).toMatchObject([{ operation: "tenant_token_revoked", token_id: leftover.tokenId, reason: "decommissioned" }]);
    expect(here.tokens.verify(leftover.token)).toBeNull();

    const issued = await other.tokens.issue("acme", "operator");
    expect(here.tokens.verify(issued.token)).toBeNull();
    here.clock.advance(60_000);
    await settle();
    expect(here.tokens.verify(issued.token)).toEqual({ account: "acme", tokenId: issued.tokenId });
    await other.tokens.revoke("acme", issued.tokenId, "operator");
    here.clock.advance(60_000);
    await settle();
    expect(here.tokens.verify(issued.token)).toBeNull();
  });
});
