/**
 * The TenantTokenStore on Firestore.
 *
 * One collection, `{prefix}tenant_tokens`, one document per active token,
 * keyed by the token's SHA-256 (hex): `account`, `token_id`, `created_at`,
 * `last_used_at`. The token itself is never stored. Revoking deletes the
 * document. Lookups by account (and by account and id) are equality queries,
 * which Firestore's automatic single-field indexes serve.
 *
 * `issue` is a transaction that reads the account's tokens and creates the new
 * document only while there are fewer than the bound: two runtimes issuing at
 * once cannot pass it together (Firestore retries the loser, which then sees
 * the winner's document).
 *
 * Every call carries a deadline (`callTimeoutMs`), as the ledger store's do:
 * a hung Firestore fails in seconds with `StoreUnavailableError`.
 */
import { withDeadline as callWithDeadline } from "./deadline.ts";
import type { DocumentReference, Firestore } from "@google-cloud/firestore";
import { StoreUnavailableError, type StoredTenantToken, type TenantTokenIssueOutcome, type TenantTokenStore } from "../../ports/index.ts";

export interface FirestoreTokenStoreOptions {
  readonly firestore: Firestore;
  /** Prefix of the collection name (the ledger store's, so a deployment's data stays together). */
  readonly collectionPrefix?: string;
  /** Deadline of every call (default 5 s). */
  readonly callTimeoutMs?: number;
}

/** gRPC status codes that mean "not now" rather than "never". */
const TRANSIENT = new Set([1, 4, 8, 10, 13, 14]);
const NOT_FOUND = 5;
/** Writes per batch when revoking many (Firestore commits at most 500). */
const CHUNK = 400;

type Doc = { get(field: string): unknown; id: string };
const fromDoc = (d: Doc): StoredTenantToken => ({
  account: d.get("account") as string,
  tokenId: d.get("token_id") as string,
  digest: d.id,
  createdAt: d.get("created_at") as string,
  lastUsedAt: (d.get("last_used_at") as string | null | undefined) ?? null,
});
const byAge = (a: StoredTenantToken, b: StoredTenantToken) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.tokenId < b.tokenId ? -1 : a.tokenId > b.tokenId ? 1 : 0);

export function createFirestoreTokenStore(options: FirestoreTokenStoreOptions): TenantTokenStore {
  const db = options.firestore;
  const timeoutMs = options.callTimeoutMs ?? 5000;
  const tokens = db.collection(`${options.collectionPrefix ?? ""}tenant_tokens`);
  let closed = false;

  const mapError = (what: string, err: unknown): Error => {
    if (err instanceof StoreUnavailableError) return err;
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    if (typeof code !== "number" || TRANSIENT.has(code)) return new StoreUnavailableError(`Firestore tenant tokens ${what} failed: ${message}`, { cause: err });
    return new Error(`Firestore tenant tokens ${what} failed: ${message}`, { cause: err });
  };

  const withDeadline = <T>(what: string, run: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailableError("the tenant token store is closed"));
    return callWithDeadline(timeoutMs, `Firestore did not answer tenant tokens ${what} within ${timeoutMs} ms`, run, (err) => mapError(what, err));
  };

  const deleteAll = async (refs: readonly DocumentReference[]): Promise<void> => {
    for (let i = 0; i < refs.length; i += CHUNK) {
      const batch = db.batch();
      for (const ref of refs.slice(i, i + CHUNK)) batch.delete(ref);
      await batch.commit();
    }
  };

  return {
    issue(token, maxActive) {
      return withDeadline("issue", () =>
        db.runTransaction(async (tx): Promise<TenantTokenIssueOutcome> => {
          const active = await tx.get(tokens.where("account", "==", token.account));
          if (active.size >= maxActive) return "limit";
          tx.create(tokens.doc(token.digest), { account: token.account, token_id: token.tokenId, created_at: token.createdAt, last_used_at: null });
          return "issued";
        }),
      );
    },
    list(account) {
      return withDeadline("list", async () => (await tokens.where("account", "==", account).get()).docs.map(fromDoc).sort(byAge));
    },
    listAll() {
      return withDeadline("listAll", async () => (await tokens.get()).docs.map(fromDoc).sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : byAge(a, b))));
    },
    revoke(account, tokenId) {
      return withDeadline("revoke", async () => {
        const found = await tokens.where("account", "==", account).where("token_id", "==", tokenId).get();
        if (found.empty) return false;
        await deleteAll(found.docs.map((d) => d.ref));
        return true;
      });
    },
    revokeAll(account) {
      return withDeadline("revokeAll", async () => {
        const found = await tokens.where("account", "==", account).get();
        await deleteAll(found.docs.map((d) => d.ref));
        return found.docs.map((d) => d.get("token_id") as string).sort();
      });
    },
    lookup(digest) {
      return withDeadline("lookup", async () => {
        const doc = await tokens.doc(digest).get();
        return doc.exists ? { account: doc.get("account") as string, tokenId: doc.get("token_id") as string } : null;
      });
    },
    touch(uses) {
      return withDeadline("touch", async () => {
        // One update per token, each only if it still exists: a token revoked meanwhile stays gone.
        await Promise.all(
          uses.map((u) =>
            tokens
              .doc(u.digest)
              .update({ last_used_at: u.lastUsedAt })
              .catch((err: unknown) => {
                if ((err as { code?: unknown }).code !== NOT_FOUND) throw err;
              }),
          ),
        );
      });
    },
    async close() {
      closed = true;
    },
  };
}
