/** Driven port: tenant tokens, stored as their SHA-256 only, beside the ledgers. */

/** One tenant token as stored: never the token itself, only its SHA-256. */
export interface StoredTenantToken {
  readonly account: string;
  /** Public id (`tk_…`): what lists, receipts and revocation name. */
  readonly tokenId: string;
  /** SHA-256 of the token, 64 lowercase hex characters. */
  readonly digest: string;
  /** When it was issued (ISO 8601, UTC). */
  readonly createdAt: string;
  /** When it was last used, as last written back (coalesced), or null. */
  readonly lastUsedAt: string | null;
}

/** What `TenantTokenStore.issue` did. */
export type TenantTokenIssueOutcome = "issued" | "limit";

/**
 * Tenant tokens: the credentials with which a tenant's own systems act on
 * its governor, one account each. Lives in the ledger store's backend
 * (embedded: SQLite in the data directory; GCP: Firestore). The runtime keeps
 * an index in memory and reads the store at start, so no signal waits on it.
 *
 * Guarantees every adapter gives (`test/contract/tenant-token-store.ts`):
 * - `issue` is atomic with its bound: it stores the token only while the
 *   account has fewer than `maxActive` tokens ("limit" otherwise, nothing written).
 * - a revoked token is gone: no list or `lookup` returns it again.
 */
export interface TenantTokenStore {
  issue(token: Omit<StoredTenantToken, "lastUsedAt">, maxActive: number): Promise<TenantTokenIssueOutcome>;
  /** The account's active tokens, oldest first. */
  list(account: string): Promise<readonly StoredTenantToken[]>;
  /** Every active token of every account (the runtime's index at start). */
  listAll(): Promise<readonly StoredTenantToken[]>;
  /** Revokes one token; false when the account has no such token. */
  revoke(account: string, tokenId: string): Promise<boolean>;
  /** Revokes every token of the account; resolves with the ids revoked. */
  revokeAll(account: string): Promise<readonly string[]>;
  /** The token with this digest, or null. */
  lookup(digest: string): Promise<{ account: string; tokenId: string } | null>;
  /** Writes back last-use times (coalesced by the caller); tokens revoked meanwhile are skipped. */
  touch(uses: readonly { digest: string; lastUsedAt: string }[]): Promise<void>;
  close(): Promise<void>;
}
