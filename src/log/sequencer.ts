/**
 * The first stage of an append: sequencing. `seal` gives a draft its place in
 * its ledger at once (seq, prev_hash, timestamp, receipt id, hash), so that a
 * governor applies the receipt without waiting for the store, and queues it
 * for the committer. The Merkle frontier follows every seal, so a checkpoint
 * never reads the store.
 */
import { Buffer } from "node:buffer";
import { isoTimestamp } from "../../governors/timestamps.ts";
import { genesisHash, sealWithContext } from "../ledger/hash.ts";
import { MerkleFrontier } from "../ledger/merkle.ts";
import { accountIdPattern, PLATFORM_LEDGER, type LedgerId, type Receipt, type ReceiptDraft } from "../ledger/receipt.ts";
import type { Clock, SeqConflictError } from "../ports/index.ts";

/** A callback waiting until its ledger is durable up to `size`. */
export interface DurableWaiter {
  readonly size: number;
  readonly run: () => void;
  readonly fail: (err: Error) => void;
}

/**
 * One ledger as the log holds it. The sequencer made it and moves `sealed`,
 * the chain head and `pending`; the committer moves `submitted` and `fenced`;
 * durability moves `durable` and `waiters`; the checkpointer the rest.
 */
export interface LedgerTail {
  readonly ledger: LedgerId;
  /** Next seq to seal. */
  sealed: number;
  /** Receipts `0 .. durable - 1` are durable. */
  durable: number;
  /** Receipts `0 .. submitted - 1` are durable or in a commit under way. */
  submitted: number;
  lastHash: string;
  lastTimestampMs: number;
  readonly frontier: MerkleFrontier;
  /** Sealed, not yet written, in seq order. */
  pending: Receipt[];
  /** The JSON text of each pending receipt (`sealWithContext`), in the same order. */
  pendingTexts: string[];
  /** In the order they were registered, so `size` never decreases along it. */
  waiters: DurableWaiter[];
  /** Tree size of the last checkpoint written. */
  checkpointed: number;
  lastCheckpointAt: number;
  /** Set when a conflicting writer was detected: the ledger must be rebuilt. */
  fenced: SeqConflictError | null;
}

/** What the log knows of a ledger when it takes it over. */
export interface LedgerResume {
  readonly size: number;
  readonly lastHash: string;
  readonly lastTimestamp: string | null;
  /** Every receipt hash, to rebuild the Merkle frontier; or a frontier restored from a snapshot. */
  readonly frontier: MerkleFrontier;
  readonly checkpointed: number;
}

/** Holds every open ledger's tail and seals drafts into it. */
export class Sequencer {
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #tails = new Map<string, LedgerTail>();
  #sealedTotal = 0;

  /** `newId`: lowercase UUIDv7s, as `createUuidV7Source` makes them (not checked again per receipt). */
  constructor(clock: Clock, newId: () => string) {
    this.#clock = clock;
    this.#newId = newId;
  }

  /** Takes over a ledger from its durable head; a ledger already open is left as it is. */
  open(ledger: LedgerId, resume?: LedgerResume): void {
    if (this.#tails.has(ledger)) return;
    if (ledger !== PLATFORM_LEDGER && !accountIdPattern.test(ledger)) throw new TypeError(`ledger must be an account id or _platform, got ${JSON.stringify(String(ledger).slice(0, 80))}`);
    const size = resume?.size ?? 0;
    this.#tails.set(ledger, {
      ledger,
      sealed: size,
      durable: size,
      submitted: size,
      lastHash: resume?.lastHash ?? genesisHash(ledger),
      lastTimestampMs: resume?.lastTimestamp ? Date.parse(resume.lastTimestamp) : 0,
      frontier: resume?.frontier ?? new MerkleFrontier(),
      pending: [],
      pendingTexts: [],
      waiters: [],
      checkpointed: resume?.checkpointed ?? size,
      lastCheckpointAt: 0,
      fenced: null,
    });
  }

  /** The open ledger's tail; throws if it is not open. */
  tail(ledger: string): LedgerTail {
    const tail = this.#tails.get(ledger);
    if (tail === undefined) throw new Error(`ledger ${ledger} is not open in this writer`);
    return tail;
  }

  has(ledger: string): boolean {
    return this.#tails.has(ledger);
  }

  /** False once the tail's ledger was released (and perhaps opened again, as a new tail). */
  holds(tail: LedgerTail): boolean {
    return this.#tails.get(tail.ledger) === tail;
  }

  tails(): IterableIterator<LedgerTail> {
    return this.#tails.values();
  }

  /** Forgets a ledger (after a decommission, or to rebuild it after a conflict). */
  release(ledger: string): void {
    this.#tails.delete(ledger);
  }

  /** Receipts sealed since this sequencer was made, on every ledger. */
  get sealedTotal(): number {
    return this.#sealedTotal;
  }

  /** Seals a draft into the ledger's next receipt and appends it to the tail's pending receipts. */
  seal(tail: LedgerTail, draft: ReceiptDraft): Receipt {
    const ledger = tail.ledger;
    const nowMs = Math.max(this.#clock.now(), tail.lastTimestampMs);
    // Every part of the context is made here (the ledger id checked at open): sealed without checking it again.
    const { receipt, text } = sealWithContext(draft, {
      ledger,
      seq: tail.sealed,
      prevHash: tail.lastHash,
      timestamp: isoTimestamp(nowMs),
      receiptId: this.#newId(),
      ...(ledger === PLATFORM_LEDGER ? {} : { accountId: ledger }),
    });
    tail.sealed++;
    this.#sealedTotal++;
    tail.lastHash = receipt.hash;
    tail.lastTimestampMs = nowMs;
    // The hash was just computed here: 64 lowercase hex digits, no need to check them again.
    tail.frontier.push(Buffer.from(receipt.hash, "hex"));
    tail.pending.push(receipt);
    tail.pendingTexts.push(text);
    return receipt;
  }
}
