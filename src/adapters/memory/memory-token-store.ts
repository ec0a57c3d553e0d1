/**
 * A TenantTokenStore in memory: for a runtime built by hand (tests, tools).
 * The service always runs on its backend's store (SQLite or Firestore); this
 * one forgets every token when the process ends.
 */
import type { StoredTenantToken, TenantTokenStore } from "../../ports/index.ts";

export function createMemoryTokenStore(): TenantTokenStore {
  const byDigest = new Map<string, StoredTenantToken>();
  const ofAccount = (account: string) => [...byDigest.values()].filter((t) => t.account === account);
  const byAge = (a: StoredTenantToken, b: StoredTenantToken) => a.createdAt.localeCompare(b.createdAt) || a.tokenId.localeCompare(b.tokenId);
  return {
    async issue(token, maxActive) {
      if (ofAccount(token.account).length >= maxActive) return "limit";
      byDigest.set(token.digest, { ...token, lastUsedAt: null });
      return "issued";
    },
    async list(account) {
      return ofAccount(account).sort(byAge);
    },
    async listAll() {
      return [...byDigest.values()].sort((a, b) => a.account.localeCompare(b.account) || byAge(a, b));
    },
    async revoke(account, tokenId) {
      const found = ofAccount(account).find((t) => t.tokenId === tokenId);
      if (found === undefined) return false;
      byDigest.delete(found.digest);
      return true;
    },
    async revokeAll(account) {
      const found = ofAccount(account);
      for (const t of found) byDigest.delete(t.digest);
      return found.map((t) => t.tokenId).sort();
    },
    async lookup(digest) {
      const t = byDigest.get(digest);
      return t === undefined ? null : { account: t.account, tokenId: t.tokenId };
    },
    async touch(uses) {
      for (const u of uses) {
        const t = byDigest.get(u.digest);
        if (t !== undefined && (t.lastUsedAt === null || t.lastUsedAt < u.lastUsedAt)) byDigest.set(u.digest, { ...t, lastUsedAt: u.lastUsedAt });
      }
    },
    async close() {},
  };
}
