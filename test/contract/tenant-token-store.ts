/**
 * The TenantTokenStore contract: every adapter (embedded SQLite, Firestore)
 * runs this same suite, unchanged, through the port's API only.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StoredTenantToken, TenantTokenStore } from "../../src/ports/index.ts";

export interface TokenStoreUnderTest {
  readonly store: TenantTokenStore;
  /** A second connection to the same storage (after a restart, or another runtime). */
  reopen(): Promise<TenantTokenStore>;
  cleanup(): Promise<void>;
}

let counter = 0;
const account = (s: string) => `${s}-${process.pid}-${counter++}`;
const digestOf = (token: string) => createHash("sha256").update(token).digest("hex");

function token(acct: string, n: number, createdAt = `2026-12-03T10:00:0${n % 10}.000Z`): Omit<StoredTenantToken, "lastUsedAt"> & { secret: string } {
  const secret = `govt_${randomBytes(32).toString("base64url")}`;
  return { account: acct, tokenId: `tk_${String(n).padStart(12, "0")}`, digest: digestOf(secret), createdAt, secret };
}
const stored = ({ secret: _secret, ...t }: ReturnType<typeof token>) => t;

export function describeTenantTokenStoreContract(name: string, factory: () => Promise<TokenStoreUnderTest>): void {
  describe(`TenantTokenStore contract: ${name}`, () => {
    let t: TokenStoreUnderTest;
    let store: TenantTokenStore;
    beforeEach(async () => {
      t = await factory();
      store = t.store;
    });
    afterEach(async () => {
      await t.cleanup();
    });

    it("issues, lists oldest first (no last use yet), and finds a token by its digest only", async () => {
      const a = account("list");
      const [t1, t2] = [token(a, 1), token(a, 2)];
      expect(await store.issue(stored(t2), 10)).toBe("issued");
      expect(await store.issue(stored(t1), 10)).toBe("issued");
      expect(await store.list(a)).toEqual([
        { ...stored(t1), lastUsedAt: null },
        { ...stored(t2), lastUsedAt: null },
      ]);
      expect(await store.lookup(t1.digest)).toEqual({ account: a, tokenId: t1.tokenId });
      expect(await store.lookup(digestOf("not a token"))).toBeNull();
      expect(await store.list(account("nobody"))).toEqual([]);
    });

    it("keeps each account's tokens apart: listing, revoking one, revoking all", async () => {
      const [a, b] = [account("a"), account("b")];
      const ta = token(a, 1);
      const tb = token(b, 1);
      await store.issue(stored(ta), 10);
      await store.issue(stored(tb), 10);
      // Same token id, other account: not revoked.
      expect(await store.revoke(a, "tk_doesnotexist")).toBe(false);
      expect(await store.revoke(b, ta.tokenId)).toBe(true);
      expect(await store.list(b)).toEqual([]);
      expect((await store.list(a)).map((x) => x.tokenId)).toEqual([ta.tokenId]);
      expect(await store.lookup(tb.digest)).toBeNull();
      expect(await store.revoke(b, ta.tokenId)).toBe(false);
      const all = (await store.listAll()).filter((x) => x.account === a || x.account === b);
      expect(all.map((x) => [x.account, x.tokenId])).toEqual([[a, ta.tokenId]]);
    });

    it("refuses a token beyond the bound and writes nothing of it", async () => {
      const a = account("bound");
      const tokens = [1, 2, 3].map((n) => token(a, n));
      expect(await store.issue(stored(tokens[0]!), 2)).toBe("issued");
      expect(await store.issue(stored(tokens[1]!), 2)).toBe("issued");
      expect(await store.issue(stored(tokens[2]!), 2)).toBe("limit");
      expect(await store.lookup(tokens[2]!.digest)).toBeNull();
      expect((await store.list(a)).length).toBe(2);
      // Room again after a revocation.
      await store.revoke(a, tokens[0]!.tokenId);
      expect(await store.issue(stored(tokens[2]!), 2)).toBe("issued");
    });

    it("lets two issues racing for the last slot through one at a time", async () => {
      const a = account("race");
      const [t1, t2] = [token(a, 1), token(a, 2)];
      const second = await t.reopen();
      try {
        const outcomes = await Promise.all([store.issue(stored(t1), 1), second.issue(stored(t2), 1)]);
        expect(outcomes.sort()).toEqual(["issued", "limit"]);
        expect((await store.list(a)).length).toBe(1);
      } finally {
        await second.close();
      }
    });

    it("revokes every token of an account and says which", async () => {
      const a = account("all");
      const tokens = [3, 1, 2].map((n) => token(a, n));
      for (const x of tokens) await store.issue(stored(x), 10);
      expect(await store.revokeAll(a)).toEqual(tokens.map((x) => x.tokenId).sort());
      expect(await store.list(a)).toEqual([]);
      for (const x of tokens) expect(await store.lookup(x.digest)).toBeNull();
      expect(await store.revokeAll(a)).toEqual([]);
    });

    it("writes last-use times back, never bringing a revoked token back", async () => {
      const a = account("touch");
      const [t1, t2] = [token(a, 1), token(a, 2)];
      await store.issue(stored(t1), 10);
      await store.issue(stored(t2), 10);
      await store.revoke(a, t2.tokenId);
      await store.touch([
        { digest: t1.digest, lastUsedAt: "2026-12-03T11:00:00.000Z" },
        { digest: t2.digest, lastUsedAt: "2026-12-03T11:00:00.000Z" },
      ]);
      await store.touch([]);
      expect(await store.list(a)).toEqual([{ ...stored(t1), lastUsedAt: "2026-12-03T11:00:00.000Z" }]);
      expect(await store.lookup(t2.digest)).toBeNull();
    });

    it("keeps what it stored across a reopen (a restart)", async () => {
      const a = account("reopen");
      const t1 = token(a, 1);
      await store.issue(stored(t1), 10);
      await store.touch([{ digest: t1.digest, lastUsedAt: "2026-12-03T12:00:00.000Z" }]);
      const again = await t.reopen();
      try {
        expect(await again.list(a)).toEqual([{ ...stored(t1), lastUsedAt: "2026-12-03T12:00:00.000Z" }]);
        expect(await again.lookup(t1.digest)).toEqual({ account: a, tokenId: t1.tokenId });
      } finally {
        await again.close();
      }
    });

    it("stores no token, only its digest", async () => {
      const a = account("secret");
      const t1 = token(a, 1);
      await store.issue(stored(t1), 10);
      const text = JSON.stringify(await store.listAll());
      expect(text).toContain(t1.digest);
      expect(text).not.toContain(t1.secret);
    });
  });
}
