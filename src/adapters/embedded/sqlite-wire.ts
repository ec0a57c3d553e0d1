/**
 * The messages between the embedded LedgerStore (`sqlite-ledger-store.ts`)
 * and its SQLite worker thread (`sqlite-worker.js`).
 */

export interface WorkerConfig {
  readonly path: string;
  readonly busyTimeoutMs: number;
  readonly synchronous: "full" | "normal";
  /** Quiet this long after work (health probes aside): one memory-reducing collection; 0: never. */
  readonly reclaimAfterMs: number;
}

export interface WireBatch {
  readonly ledger: string;
  readonly expectedSeq: number;
  /** Receipts in the batch: seqs `expectedSeq .. expectedSeq + count - 1`. */
  readonly count: number;
  /** Their hashes, 64 hex digits each, concatenated. */
  readonly hashes: string;
  /**
   * Their JSON texts joined by "\n" (JSON text has no raw line break). One
   * string per batch: a structured clone of one string costs far less than
   * of an array per receipt.
   */
  readonly texts: string;
  readonly checkpoint?: { size: number; root: string; note: string };
  /**
   * The hash the stored receipt `expectedSeq - 1` must have (the first
   * receipt's `prev_hash`); "" when there is none to check (seq 0, whose
   * genesis link the client checks, or a checkpoint-only batch without one).
   */
  readonly prevHash: string;
  /** Set by the client when the batch does not link in itself: refused as a chain conflict, nothing written. */
  readonly broken?: string;
}

/** A batch's outcome: null (committed), or the ledger's size when it was refused; `chain` says why it did not link. */
export type WireOutcome = { actualSize: number; chain?: string } | null;

export type Request =
  | { id: number; op: "append"; batches: WireBatch[] }
  | { id: number; op: "read"; ledger: string; from: number; limit: number }
  | { id: number; op: "readHashes"; ledger: string; from: number; to: number }
  | { id: number; op: "head"; ledger: string }
  | { id: number; op: "latestCheckpoint"; ledger: string }
  | { id: number; op: "listLedgers" }
  | { id: number; op: "putSnapshot"; ledger: string; seq: number; lastHash: string; version: string; state: string }
  | { id: number; op: "getSnapshot"; ledger: string }
  | { id: number; op: "probe"; deadlineMs: number; at: number }
  | { id: number; op: "close" };

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { message: string; errcode?: number; errstr?: string } };
