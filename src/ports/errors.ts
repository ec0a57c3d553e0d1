/**
 * Errors that cross a port. Whether to try again is part of the error's type:
 * a retryable error (the backend is down or slow) may succeed later, a
 * terminal one never will and the caller must stop (or dead-letter).
 */

/** The base of every error a port raises on purpose: a stable code, and whether retrying can help. */
export abstract class PortError extends Error {
  /** True when the same call may succeed later (the backend failed); false when it never will. */
  abstract readonly retryable: boolean;
  abstract readonly code: string;
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
 * did not land); anything else means another writer appended. Terminal: the
 * writer's view of the ledger is wrong, so the same batch never lands.
 */
export class SeqConflictError extends PortError {
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
export class StoreUnavailableError extends PortError {
  readonly code: LedgerStoreErrorCode;
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown; timeout?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StoreUnavailableError";
    this.code = options?.timeout ? LedgerStoreErrorCode.timeout : LedgerStoreErrorCode.unavailable;
  }
}

/** A malformed batch (seqs not contiguous, a receipt of another ledger, texts or a checkpoint that do not match). Terminal: a bug in the writer. */
export class BatchInvalidError extends PortError {
  readonly code = LedgerStoreErrorCode.invalid;
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = "BatchInvalidError";
  }
}
