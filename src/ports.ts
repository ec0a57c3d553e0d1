/**
 * The interfaces the runtime needs from the world. Adapters implement them:
 * `src/adapters/embedded/` (the default, one process, no cloud) and
 * `src/adapters/gcp/` (Pub/Sub, Firestore, Cloud Storage).
 */
import type { LedgerId, Receipt } from "./ledger/receipt.ts";

/** The head of a ledger: its size (the next seq) and the hash and time of its last receipt. */
export interface LedgerHead {
  /** Number of receipts; also the seq the next receipt must carry. */
  readonly size: number;
  /** `hash` of receipt `size - 1`, or the genesis `prev_hash` when the ledger is empty. */
  readonly lastHash: string;
  /** `timestamp` of the last receipt, or null when the ledger is empty. */
  readonly lastTimestamp: string | null;
}

/** A signed checkpoint as stored: the C2SP signed note text and the tree size it covers. */
export interface StoredCheckpoint {
  readonly size: number;
  /** Base64 RFC 6962 root, as in the note. */
  readonly root: string;
  /** The whole signed note (body, blank line, signature lines). */
  readonly note: string;
}

/** A governor's state at a seq, so replay need not start at seq 0. */
export interface StoredSnapshot {
  /** The snapshot reflects receipts `0 .. seq - 1`. */
  readonly seq: number;
  /** The hash of receipt `seq - 1`: a snapshot is used only if it still matches the ledger. */
  readonly lastHash: string;
  /** Version of the code that wrote it; a mismatch means replay from 0. */
  readonly version: string;
  readonly state: unknown;
}

/** One batch of an append: receipts for one ledger, and the checkpoint that covers them. */
export interface AppendBatch {
  readonly ledger: LedgerId;
  /** The seq the first receipt must have: the ledger's size as the writer last saw it. */
  readonly expectedSeq: number;
  readonly receipts: readonly Receipt[];
  /**
   * Each receipt's JSON text, in the same order, when the writer has it
   * (`sealReceiptText`): a store that keeps receipts as text stores these
   * instead of serializing the receipts again. Each parses to its receipt.
   */
  readonly texts?: readonly string[];
  /** The checkpoint over the ledger after this batch; stored atomically with it. */
  readonly checkpoint?: StoredCheckpoint;
  /**
   * The hash the stored ledger must have at `expectedSeq - 1` (the genesis
   * hash at 0): what a checkpoint-only batch builds on, so that a checkpoint
   * is never stored over another writer's chain. With receipts it is their
   * first `prev_hash`, and may be left out.
   */
  readonly prevHash?: string;
}

/** Stable error codes of the ledger store. */
export const LedgerStoreErrorCode = {
  conflict: "LEDGER_SEQ_CONFLICT",
  chainConflict: "LEDGER_CHAIN_CONFLICT",
  unavailable: "LEDGER_STORE_UNAVAILABLE",
  timeout: "LEDGER_STORE_TIMEOUT",
  invalid: "LEDGER_BATCH_INVALID",
} as const;
export type LedgerStoreErrorCode = (typeof LedgerStoreErrorCode)[keyof typeof LedgerStoreErrorCode];

/**
 * A stale writer: the ledger's size is not the expected seq. Nothing of the
 * batch was written. `actualSize < expectedSeq` is a gap (a commit before it
 * did not land); anything else means another writer appended.
 */
export class SeqConflictError extends Error {
  readonly code: typeof LedgerStoreErrorCode.conflict | typeof LedgerStoreErrorCode.chainConflict = LedgerStoreErrorCode.conflict;
  readonly retryable = false;
  readonly ledger: string;
  readonly expectedSeq: number;
  readonly actualSize: number;
  constructor(ledger: string, expectedSeq: number, actualSize: number, message?: string) {
    super(message ?? `ledger ${ledger}: append expected seq ${expectedSeq} but the ledger has ${actualSize} receipts`);
    this.name = "SeqConflictError";
    this.ledger = ledger;
    this.expectedSeq = expectedSeq;
    this.actualSize = actualSize;
  }
}

/**
 * The batch does not continue the stored chain: its first `prev_hash` is not
 * the stored hash at `expectedSeq - 1` (or the genesis hash), or its own
 * receipts do not link to one another. Nothing of the batch was written. A
 * kind of SeqConflictError: the writer's view of the ledger is not the
 * stored one (another writer appended, or a commit this one depends on did
 * not land), so the writer stops writing the ledger and it is rebuilt.
 */
export class ChainConflictError extends SeqConflictError {
  override readonly code = LedgerStoreErrorCode.chainConflict;
  constructor(ledger: string, expectedSeq: number, actualSize: number, detail: string) {
    super(ledger, expectedSeq, actualSize, `ledger ${ledger}: the batch at seq ${expectedSeq} does not link to the stored chain (${detail})`);
    this.name = "ChainConflictError";
  }
}

/** The store could not be reached or did not answer in time. Retryable; may trigger safe mode. */
export class StoreUnavailableError extends Error {
  readonly code: LedgerStoreErrorCode;
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown; timeout?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StoreUnavailableError";
    this.code = options?.timeout ? LedgerStoreErrorCode.timeout : LedgerStoreErrorCode.unavailable;
  }
}

/**
 * Durable, append-only storage of receipts, checkpoints and replay snapshots.
 *
 * Guarantees every adapter must give (the contract suite in
 * `test/contract/ledger-store.ts` checks them):
 * - `append` is all-or-nothing per batch: when it resolves, every receipt of
 *   every batch is durable; when a batch's `expectedSeq` is not the ledger's
 *   size it rejects with `SeqConflictError` and writes nothing of that batch.
 * - A ledger never forks: a batch lands only if it continues the stored
 *   chain. Atomically with the write, its first receipt's `prev_hash` must be
 *   the stored hash at `expectedSeq - 1` (the genesis hash when
 *   `expectedSeq` is 0; `prevHash` for a checkpoint-only batch), and each of
 *   its receipts must link to the one before. Otherwise nothing of it is
 *   written and its outcome is `ChainConflictError` (code
 *   `LEDGER_CHAIN_CONFLICT`). So of two commits of one writer in flight
 *   together, the second never lands if the first did not, even when another
 *   writer made the sizes match meanwhile.
 * - `appendMany` commits several batches (several ledgers) together where the
 *   store can (group commit). Its result has one outcome per batch, in order:
 *   null (durable), or the SeqConflictError (ChainConflictError included)
 *   that refused that batch alone; a batch refused leaves the others of the
 *   call unaffected. It rejects only when the store failed (nothing of the
 *   call can be counted on) or a batch is malformed (`LEDGER_BATCH_INVALID`:
 *   seqs not contiguous, a receipt of another ledger, texts or a checkpoint
 *   that do not match).
 * - reads return receipts exactly as appended.
 */
export interface LedgerStore {
  /** The most receipts one batch may hold, if the store has a limit (Firestore commits at most 500 writes). */
  readonly maxBatchReceipts?: number;
  /** Group commits a writer may keep under way at once (default 2): a remote store hides its round trips with more. */
  readonly commitsInFlight?: number;
  append(batch: AppendBatch): Promise<void>;
  /** Appends several batches; each is all-or-nothing on its own. Resolves with one outcome per batch, in order. */
  appendMany(batches: readonly AppendBatch[]): Promise<readonly (SeqConflictError | null)[]>;
  /** Receipts `from .. from + limit - 1` (fewer at the end), in seq order. */
  read(ledger: LedgerId, from: number, limit: number): Promise<readonly Receipt[]>;
  /** Every receipt hash in seq order from `from` on, for Merkle trees and proofs. */
  readHashes(ledger: LedgerId, from?: number, to?: number): Promise<readonly string[]>;
  head(ledger: LedgerId): Promise<LedgerHead>;
  latestCheckpoint(ledger: LedgerId): Promise<StoredCheckpoint | null>;
  /** Every ledger that has at least one receipt. */
  listLedgers(): Promise<readonly LedgerId[]>;
  putSnapshot(ledger: LedgerId, snapshot: StoredSnapshot): Promise<void>;
  getSnapshot(ledger: LedgerId): Promise<StoredSnapshot | null>;
  /** Health probe: writes then reads a probe record; rejects with StoreUnavailableError past `deadlineMs`. */
  probe(deadlineMs: number): Promise<void>;
  close(): Promise<void>;
}

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

/** Where export archives go (embedded: a directory; GCP: a bucket). */
export interface ArchiveStore {
  /** Stores an archive under `name`; resolves with a URI an operator can use to fetch it. */
  put(name: string, data: Uint8Array): Promise<{ uri: string; bytes: number }>;
  get(name: string): Promise<Uint8Array | null>;
}

/** What `PolicyRegistry.put` did. */
export type PolicyPutOutcome = "created" | "unchanged" | "conflict";

/**
 * Every pushed policy version, kept immutable (embedded: a directory; GCP: a
 * bucket). A governor rebuilt from its ledger resolves the exact version its
 * receipts name, so a version once stored never changes and is never removed.
 */
export interface PolicyRegistry {
  /**
   * Stores `document` (canonical JSON text) as `skuId@version`, atomically and
   * only if absent: "created"; the same bytes already there: "unchanged";
   * different bytes already there: "conflict", and nothing is written.
   */
  put(skuId: string, version: string, document: string): Promise<PolicyPutOutcome>;
  /** The stored document text, or null. */
  get(skuId: string, version: string): Promise<string | null>;
  /** Every stored version, in no particular order. */
  list(): Promise<readonly { skuId: string; version: string }[]>;
  /** Records which version is current for a SKU (the last one applied; may be lower after a forced push). */
  setCurrent(skuId: string, version: string): Promise<void>;
  /** The current version of every SKU that has one. */
  currentVersions(): Promise<ReadonlyMap<string, string>>;
}

/** Alerts for humans: unrecoverable action failures, escalations, safe mode. */
export interface AlertSink {
  alert(alert: { code: string; message: string; ledger?: string; details?: Record<string, unknown> }): void;
}

/** Time from outside: the runtime's only source of "now". */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

/** The system clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Per-tenant signal channels (embedded: in-process; GCP: a Pub/Sub topic and subscription). */
export interface SignalChannels {
  /** Creates the tenant's channel; resolves with its name. Idempotent. */
  create(account: string): Promise<string>;
  /** Deletes it. Idempotent. */
  delete(account: string): Promise<void>;
  /** The tenant's concurrency changed: how much the channel lets through at once follows it. */
  tune?(account: string, concurrency: number): void;
  /** Stops taking signals from every channel (the channels themselves stay). */
  close?(): Promise<void>;
}

/**
 * How one marketplace delivery was first answered, as it is stored and
 * answered again to a repeat: a status and a body, or a status and an error
 * code and message. Never a secret (bodies name accounts, plans, receipts).
 */
export type DeliveryOutcome =
  | { readonly status: number; readonly body: Record<string, unknown> }
  | { readonly status: number; readonly code: string; readonly message: string };

/** A delivery about to be handled, and the entitlement event it carries (if it changes one). */
export interface DeliveryClaim {
  /** The delivery id, named by its source ("webhook:…", "procurement:…"); at most 512 characters. */
  readonly id: string;
  /** The claiming process (one random id per process start). */
  readonly owner: string;
  /** Epoch ms. */
  readonly now: number;
  /** The entitlement the event changes, if it changes one: its mark is read in the same step. */
  readonly entitlementId?: string;
}

/** The newest event applied to an entitlement so far. */
export interface EntitlementMark {
  readonly eventTime: number;
  readonly eventId: string;
}

/** What `DeliveryLog.claim` found. */
export type DeliveryClaimResult =
  /**
   * The caller now holds the delivery and must `complete` or `release` it.
   * `retaken`: an unfinished claim (a crashed or failed attempt) was taken over.
   * `mark`: the newest event applied to the entitlement so far (null when
   * none, or when the claim named no entitlement): the caller judges its
   * event against it.
   */
  | { readonly kind: "claimed"; readonly retaken: boolean; readonly mark: EntitlementMark | null }
  /** Handled before: its first outcome. */
  | { readonly kind: "completed"; readonly outcome: DeliveryOutcome; readonly completedAt: number }
  /** Another process holds it and its lease has not run out. */
  | { readonly kind: "in_progress"; readonly claimedAt: number };

/** An event applied to an entitlement. */
export interface EntitlementApplied {
  readonly entitlementId: string;
  readonly eventTime: number;
  readonly eventId: string;
}

/** A stored delivery. */
export interface DeliveryRecord {
  readonly id: string;
  readonly owner: string;
  readonly claimedAt: number;
  readonly outcome: DeliveryOutcome | null;
  readonly completedAt: number | null;
}

/**
 * Marketplace deliveries seen, durably (in the ledger store's backend), so a
 * repeat, even after a restart, gets the first outcome and changes nothing;
 * and per entitlement the time of the newest event applied to it (its mark),
 * so an older event never undoes a newer one.
 *
 * Guarantees every adapter gives (`test/contract/delivery-log.ts`):
 * - `claim` is atomic: of two claims of one id, racing in one process or in
 *   two, exactly one is "claimed". It returns the entitlement's mark with
 *   it: a stale event is still claimed, so that it is recorded once.
 * - An unfinished claim of the same owner, or of another owner older than
 *   `takeoverAfterMs`, is taken over (`retaken`): a process that died between
 *   claim and outcome never blocks the id for good.
 * - `complete` stores the first outcome only, and with it (atomically) moves
 *   the entitlement's mark forward to the event it applied; `release` forgets
 *   an unfinished claim so the delivery can run again.
 * - Failures reject with `StoreUnavailableError`.
 */
export interface DeliveryLog {
  /** How long another owner's unfinished claim is left alone (0: one process owns the store, so another owner is gone). */
  readonly takeoverAfterMs: number;
  claim(claim: DeliveryClaim): Promise<DeliveryClaimResult>;
  /**
   * Stores the outcome of a claimed delivery and, when it applied an event to
   * an entitlement, moves that entitlement's mark forward to it (never back),
   * in one atomic step. False, and nothing written, when it was not ours to
   * complete (taken over, or completed already).
   */
  complete(id: string, owner: string, outcome: DeliveryOutcome, now: number, applied?: EntitlementApplied): Promise<boolean>;
  /** Forgets an unfinished claim of ours, so a later repeat runs again. */
  release(id: string, owner: string): Promise<void>;
  get(id: string): Promise<DeliveryRecord | null>;
  /** The entitlement's mark, or null. */
  mark(entitlementId: string): Promise<EntitlementMark | null>;
  /** Removes deliveries first claimed before `before` (epoch ms); resolves with how many. Marks are kept. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}
