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
}

/** Stable error codes of the ledger store. */
export const LedgerStoreErrorCode = {
  conflict: "LEDGER_SEQ_CONFLICT",
  unavailable: "LEDGER_STORE_UNAVAILABLE",
  timeout: "LEDGER_STORE_TIMEOUT",
  invalid: "LEDGER_BATCH_INVALID",
} as const;
export type LedgerStoreErrorCode = (typeof LedgerStoreErrorCode)[keyof typeof LedgerStoreErrorCode];

/** A stale writer: the ledger's size is not the expected seq. Nothing of the batch was written. */
export class SeqConflictError extends Error {
  readonly code = LedgerStoreErrorCode.conflict;
  readonly retryable = false;
  readonly ledger: string;
  readonly expectedSeq: number;
  readonly actualSize: number;
  constructor(ledger: string, expectedSeq: number, actualSize: number) {
    super(`ledger ${ledger}: append expected seq ${expectedSeq} but the ledger has ${actualSize} receipts`);
    this.name = "SeqConflictError";
    this.ledger = ledger;
    this.expectedSeq = expectedSeq;
    this.actualSize = actualSize;
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
 * - `appendMany` commits several batches (several ledgers) together where the
 *   store can (group commit); the result says which batches conflicted.
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
