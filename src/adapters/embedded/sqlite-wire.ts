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
}

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
