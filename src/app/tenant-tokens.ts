/**
 * Tenant tokens: one or more bearer tokens per tenant, each acting on that
 * tenant alone. This holds their index in memory and keeps it and the
 * store (`TenantTokenStore`) and the tenant's ledger in step.
 *
 * - A token is 32 random bytes (`govt_…`, base64url). Only its SHA-256 is
 *   stored. No slow KDF is needed: a slow hash protects guessable secrets
 *   (passwords); a 256-bit random token cannot be guessed, and finding it
 *   from its SHA-256 is a preimage search over 2^256. A fast hash also keeps
 *   verification to one SHA-256 per request.
 * - Verification is a lookup of the presented token's digest in the index
 *   loaded at start: no store round trip per signal. This process's issues
 *   and revocations change the index at once; other runtimes' (on a shared
 *   Firestore) reach it with the next refresh (`refreshMs`).
 * - Last-use times are kept in memory and written back together, at most
 *   once per `touchMs` (a minute by default), never per request.
 *
 * Order of writes, so that a token never works without its receipt:
 * - issue: `tenant_token_issued` is made durable first, then the token is
 *   stored, then it enters the index and is shown. A failure after the receipt
 *   leaves a receipt for a token nobody ever held; a `tenant_token_revoked`
 *   with reason `not_stored` follows it (best effort; the log names the id).
 * - revoke: the token leaves the index (it stops working here at once), then
 *   the store, then `tenant_token_revoked` is written. A failure before the
 *   store leaves the token unusable here and in the store until the request
 *   is retried; a failure after it leaves a revoked token without its receipt
 *   (logged and alerted with the id), never a working token with one.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { bearerDigest } from "../credentials.ts";
import type { Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import type { AlertSink, Clock, StoredTenantToken, TenantTokenStore } from "../ports/index.ts";

/** Who asked for an issue or a revocation, as the receipt's `by` says. */
export type TokenActor = "admin" | "operator" | "governor";

/** Why a token was revoked, as the receipt's `reason` says. */
export const RevokeReason = {
  revoked: "revoked",
  decommissioned: "decommissioned",
} as const;
export type RevokeReason = (typeof RevokeReason)[keyof typeof RevokeReason];

/** A token as the API lists it: no token, no hash. */
export interface TenantTokenView {
  readonly tokenId: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

/** Thrown by `issue` when the tenant has `maxActive` tokens already. */
export class TokenLimitError extends Error {
  readonly code = "TENANT_TOKEN_LIMIT";
  readonly limit: number;
  constructor(account: string, limit: number) {
    super(`tenant ${account} has ${limit} active tokens, the most it may have; revoke one first`);
    this.name = "TokenLimitError";
    this.limit = limit;
  }
}

export interface TenantTokensOptions {
  readonly store: TenantTokenStore;
  /** Writes a receipt on a tenant's ledger and resolves once it is durable (`Governors.record`). */
  readonly record: (account: string, draft: ReceiptDraft) => Promise<Receipt>;
  /** The tenant's lifecycle state, or undefined when it is not known here. */
  readonly stateOf: (account: string) => string | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly alerts: AlertSink;
  /** Most active tokens per tenant (default 10). */
  readonly maxActive?: number;
  /** Last-use times are written back at most this often (default 60 s). */
  readonly touchMs?: number;
  /** The index is read again from the store this often, for other runtimes' changes (default 60 s; 0: never). */
  readonly refreshMs?: number;
}

interface Entry {
  readonly account: string;
  readonly tokenId: string;
  readonly digest: string;
  readonly createdAt: string;
  /** Last use seen here (ms), 0 for none. */
  usedAt: number;
  /** Last use written to the store (ms), 0 for none. */
  writtenAt: number;
}

/** How a token is stored and looked up: the hex of its `bearerDigest`. */
const digestOf = (token: string) => bearerDigest(token).toString("hex");
const iso = (ms: number) => new Date(ms).toISOString();

export class TenantTokens {
  readonly maxActive: number;
  readonly #o: TenantTokensOptions;
  readonly #byDigest = new Map<string, Entry>();
  readonly #byAccount = new Map<string, Map<string, Entry>>();
  /** Changes made here since a refresh began: a refresh that overlaps one is dropped (it may predate it). */
  #generation = 0;
  #timer: { cancel(): void } | null = null;
  #lastRefresh = 0;
  #refreshing = false;
  #flushing: Promise<void> | null = null;

  constructor(options: TenantTokensOptions) {
    this.#o = options;
    this.maxActive = options.maxActive ?? 10;
  }

  /**
   * Loads the index from the store and revokes the tokens of every tenant
   * that was decommissioned while they still had some (a process that
   * stopped between `decommission_complete` and their revocation).
   */
  async start(): Promise<{ tokens: number; revoked: number }> {
    this.#replace(await this.#o.store.listAll());
    this.#lastRefresh = this.#o.clock.now();
    let revoked = 0;
    // Deleting from a Map while iterating it is well defined: each key is visited once.
    for (const account of this.#byAccount.keys()) {
      const state = this.#o.stateOf(account);
      if (state === "decommissioned") revoked += await this.revokeAll(account, "governor", RevokeReason.decommissioned);
      else if (state === undefined) {
        // No ledger to write on: a tenant this store knows and the ledgers do not.
        this.#o.logger.warn({ account, tokens: this.#byAccount.get(account)?.size }, "tenant tokens for a tenant that has no ledger here; they do not work");
      }
    }
    this.#timer?.cancel();
    this.#schedule();
    return { tokens: this.#byDigest.size, revoked };
  }

  /** The tenant a presented token belongs to, or null. One SHA-256 and a map lookup: no I/O. */
  verify(presented: string): { account: string; tokenId: string } | null {
    return this.verifyDigest(digestOf(presented));
  }

  /** `verify` for a token whose SHA-256 (lowercase hex) the caller has already. */
  verifyDigest(digest: string): { account: string; tokenId: string } | null {
    const entry = this.#byDigest.get(digest);
    if (entry === undefined) return null;
    entry.usedAt = this.#o.clock.now();
    return { account: entry.account, tokenId: entry.tokenId };
  }

  /** Issues a token: receipt, store, index, in that order. The token is returned here and never again. */
  async issue(account: string, by: Exclude<TokenActor, "governor">): Promise<{ tokenId: string; token: string; createdAt: string; receipt: Receipt }> {
    if ((this.#byAccount.get(account)?.size ?? 0) >= this.maxActive) throw new TokenLimitError(account, this.maxActive);
    const tokenId = `tk_${randomBytes(12).toString("base64url")}`;
    const token = `govt_${randomBytes(32).toString("base64url")}`;
    const digest = digestOf(token);
    const createdAt = iso(this.#o.clock.now());
    const receipt = await this.#o.record(account, { operation: "tenant_token_issued", status: "success", duration_ms: 0, token_id: tokenId, by });
    let outcome;
    try {
      outcome = await this.#o.store.issue({ account, tokenId, digest, createdAt }, this.maxActive);
    } catch (err) {
      await this.#notStored(account, tokenId, err);
      throw err;
    }
    if (outcome === "limit") {
      // Another runtime took the last slot between our count and the store's.
      await this.#notStored(account, tokenId, null);
      throw new TokenLimitError(account, this.maxActive);
    }
    this.#generation++;
    this.#add({ account, tokenId, digest, createdAt, usedAt: 0, writtenAt: 0 });
    return { tokenId, token, createdAt, receipt };
  }

  /** The tenant's active tokens, oldest first, with the freshest last-use time known here. */
  async list(account: string): Promise<readonly TenantTokenView[]> {
    const stored = await this.#o.store.list(account);
    const here = this.#byAccount.get(account);
    return stored.map((t) => {
      const used = here?.get(t.tokenId)?.usedAt ?? 0;
      const lastUsedAt = used > 0 && (t.lastUsedAt === null || iso(used) > t.lastUsedAt) ? iso(used) : t.lastUsedAt;
      return { tokenId: t.tokenId, createdAt: t.createdAt, lastUsedAt };
    });
  }

  /** Revokes one token at once: index, store, receipt. Null when the tenant has no such token. */
  async revoke(account: string, tokenId: string, by: TokenActor, reason: RevokeReason = RevokeReason.revoked): Promise<Receipt | null> {
    this.#generation++;
    this.#remove(account, tokenId);
    if (!(await this.#o.store.revoke(account, tokenId))) return null;
    return this.#recordRevoked(account, tokenId, by, reason);
  }

  /** Revokes every token of a tenant (at decommission); resolves with how many. */
  async revokeAll(account: string, by: TokenActor, reason: RevokeReason): Promise<number> {
    this.#generation++;
    for (const tokenId of this.#byAccount.get(account)?.keys() ?? []) this.#remove(account, tokenId);
    const ids = await this.#o.store.revokeAll(account);
    for (const tokenId of ids) await this.#recordRevoked(account, tokenId, by, reason);
    if (ids.length > 0) this.#o.logger.info({ account, tokens: ids.length, reason }, "tenant tokens revoked");
    return ids.length;
  }

  /** Writes back last-use times seen since the last write (also done on a timer, and at stop). */
  flushUses(): Promise<void> {
    if (this.#flushing !== null) return this.#flushing;
    const uses: { digest: string; lastUsedAt: string }[] = [];
    const marks: [Entry, number][] = [];
    for (const e of this.#byDigest.values()) {
      if (e.usedAt > e.writtenAt) {
        uses.push({ digest: e.digest, lastUsedAt: iso(e.usedAt) });
        marks.push([e, e.usedAt]);
      }
    }
    if (uses.length === 0) return Promise.resolve();
    this.#flushing = this.#o.store.touch(uses).then(
      () => {
        for (const [e, at] of marks) e.writtenAt = Math.max(e.writtenAt, at);
      },
      (err: unknown) => this.#o.logger.warn({ err, tokens: uses.length }, "tenant token last-use times not written; trying again later"),
    );
    return this.#flushing.finally(() => {
      this.#flushing = null;
    });
  }

  /** Stops the timer, writes back last-use times and closes the store. */
  async stop(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = null;
    await this.flushUses();
    await this.#o.store.close();
  }

  async #recordRevoked(account: string, tokenId: string, by: TokenActor, reason: RevokeReason | "not_stored"): Promise<Receipt> {
    try {
      return await this.#o.record(account, { operation: "tenant_token_revoked", status: "success", duration_ms: 0, token_id: tokenId, by, reason });
    } catch (err) {
      this.#o.logger.error({ err, account, token_id: tokenId }, "a tenant token was revoked but its receipt was not written");
      this.#o.alerts.alert({ code: "token_receipt_missing", message: `tenant token ${tokenId} of ${account} was revoked without its receipt`, ledger: account });
      throw err;
    }
  }

  async #notStored(account: string, tokenId: string, cause: unknown): Promise<void> {
    this.#o.logger.error({ err: cause ?? undefined, account, token_id: tokenId }, "a tenant token's issue receipt was written but the token was not stored; it never worked");
    await this.#recordRevoked(account, tokenId, "governor", "not_stored").catch(() => {});
  }

  #add(e: Entry): void {
    this.#byDigest.set(e.digest, e);
    let forAccount = this.#byAccount.get(e.account);
    if (forAccount === undefined) this.#byAccount.set(e.account, (forAccount = new Map()));
    forAccount.set(e.tokenId, e);
  }

  #remove(account: string, tokenId: string): void {
    const forAccount = this.#byAccount.get(account);
    const e = forAccount?.get(tokenId);
    if (e === undefined) return;
    forAccount!.delete(tokenId);
    if (forAccount!.size === 0) this.#byAccount.delete(account);
    this.#byDigest.delete(e.digest);
  }

  /** Replaces the index with what the store holds, keeping last uses seen here. */
  #replace(tokens: readonly StoredTenantToken[]): void {
    const before = new Map(this.#byDigest);
    this.#byDigest.clear();
    this.#byAccount.clear();
    for (const t of tokens) {
      const written = t.lastUsedAt === null ? 0 : Date.parse(t.lastUsedAt);
      const old = before.get(t.digest);
      this.#add({ account: t.account, tokenId: t.tokenId, digest: t.digest, createdAt: t.createdAt, usedAt: Math.max(old?.usedAt ?? 0, written), writtenAt: Math.max(old?.writtenAt ?? 0, written) });
    }
  }

  async #refresh(): Promise<void> {
    const generation = this.#generation;
    const tokens = await this.#o.store.listAll();
    // A change made here while the read was under way may be missing from it: keep the index, read again next time.
    if (generation === this.#generation) this.#replace(tokens);
  }

  #schedule(): void {
    const touchMs = this.#o.touchMs ?? 60_000;
    const refreshMs = this.#o.refreshMs ?? 60_000;
    this.#timer = this.#o.clock.setTimeout(() => {
      // The next tick is armed at once: a slow store delays its own work, never the schedule.
      this.#schedule();
      const now = this.#o.clock.now();
      void this.flushUses();
      if (refreshMs > 0 && now - this.#lastRefresh >= refreshMs && !this.#refreshing) {
        this.#lastRefresh = now;
        this.#refreshing = true;
        void this.#refresh()
          .catch((err: unknown) => this.#o.logger.warn({ err }, "tenant tokens not read again from the store; trying again later"))
          .finally(() => {
            this.#refreshing = false;
          });
      }
    }, refreshMs > 0 ? Math.min(touchMs, refreshMs) : touchMs);
  }
}
