/**
 * Driven port: durable storage of receipts, checkpoints and replay snapshots
 * (embedded: SQLite; GCP: Firestore; tests: memory).
 */
import type { LedgerId, Receipt } from "../ledger/receipt.ts";
import type { SeqConflictError } from "./errors.ts";

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
