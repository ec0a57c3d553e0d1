/**
 * Integration: one group commit. Every ledger with something to write sends
 * its sealed receipts, with the checkpoint due, in one `appendMany`. What the
 * store did not take is put back in order for the next commit; a ledger whose
 * stored chain is not the one this log holds (another writer appended) is
 * fenced: nothing more is sent for it, and it must be rebuilt.
 */
import type { Logger } from "pino";
import type { LedgerId, Receipt } from "../ledger/receipt.ts";
import { ChainConflictError, type AppendBatch, type LedgerStore, type SeqConflictError } from "../ports/index.ts";
import type { Checkpointer } from "./checkpointer.ts";
import type { CommitQueue, Taken } from "./commit-queue.ts";
import type { Durability } from "./durability.ts";
import type { LedgerTail, Sequencer } from "./sequencer.ts";

export interface CommitterOptions {
  readonly store: LedgerStore;
  readonly logger: Logger;
  /** Called when an append fails for a reason other than a conflict (store down). */
  readonly onStoreError?: (err: Error) => void;
  /**
   * Called once per ledger when its stored chain is not the one this log
   * holds (another writer appended: SeqConflictError, or ChainConflictError
   * for a commit that does not link): the log stops writing it, drops what it
   * had in flight for it, and the ledger must be rebuilt.
   */
  readonly onFenced?: (ledger: LedgerId, err: SeqConflictError) => void;
  /** Called after each committed group with the receipts it made durable (metrics, benchmarks). */
  readonly onCommitted?: (receipts: readonly Receipt[]) => void;
}

/** Assembles and sends commits, and applies what the store answers. */
export class Committer {
  readonly #opts: CommitterOptions;
  readonly #queue: CommitQueue;
  readonly #sequencer: Sequencer;
  readonly #checkpointer: Checkpointer;
  readonly #durability: Durability;

  constructor(opts: CommitterOptions, queue: CommitQueue, sequencer: Sequencer, checkpointer: Checkpointer, durability: Durability) {
    this.#opts = opts;
    this.#queue = queue;
    this.#sequencer = sequencer;
    this.#checkpointer = checkpointer;
    this.#durability = durability;
  }

  /** Sends one commit; rejects, with every receipt put back, if the store failed. */
  async commit(): Promise<void> {
    const taken: Taken[] = [];
    const batches: AppendBatch[] = [];
    let uncheckpointed = this.#take(batches, taken);
    if (batches.length === 0) {
      if (uncheckpointed) this.#checkpointer.armTrailing();
      return;
    }
    let outcomes: readonly (SeqConflictError | null)[];
    try {
      outcomes = await this.#opts.store.appendMany(batches);
    } catch (err) {
      // Nothing was acknowledged: keep the receipts, in order, for the next attempt.
      for (const t of taken) this.#queue.requeue(t);
      this.#opts.onStoreError?.(err as Error);
      throw err;
    }
    for (let i = 0; i < taken.length; i++) {
      const t = taken[i]!;
      const conflict = outcomes[i];
      if (!conflict) uncheckpointed = this.#landed(t) || uncheckpointed;
      else if (t.tail.fenced) {
        // Handed over already: what else it had in flight is dropped with it (the store wrote none of it, since none of it links).
        this.#opts.logger.info({ ledger: t.tail.ledger, code: conflict.code, expectedSeq: conflict.expectedSeq, receipts: t.receipts.length }, "a commit in flight behind a refused one was refused too; dropped");
      } else if (!(conflict instanceof ChainConflictError) && conflict.actualSize < conflict.expectedSeq) {
        // A gap: an earlier commit of ours did not land (the store failed). Send these again after it.
        this.#queue.requeue(t);
      } else this.#fence(t.tail, conflict);
    }
    if (uncheckpointed) this.#checkpointer.armTrailing();
  }

  /**
   * Takes what each dirty ledger has to write (within the store's batch
   * limit); true if a ledger left out is durable beyond its last checkpoint.
   */
  #take(batches: AppendBatch[], taken: Taken[]): boolean {
    const maxBatch = this.#opts.store.maxBatchReceipts ?? Number.POSITIVE_INFINITY;
    let uncheckpointed = false;
    this.#checkpointer.startCommit();
    const tails = this.#queue.take();
    for (const tail of tails) {
      if (tail.fenced) continue;
      let receipts = tail.pending;
      let texts = tail.pendingTexts;
      tail.pending = [];
      tail.pendingTexts = [];
      if (receipts.length > maxBatch) {
        // The store takes so many at once: the rest go in the next commit, in order.
        tail.pending = receipts.slice(maxBatch);
        tail.pendingTexts = texts.slice(maxBatch);
        receipts = receipts.slice(0, maxBatch);
        texts = texts.slice(0, maxBatch);
        this.#queue.mark(tail);
      }
      const size = tail.submitted + receipts.length;
      const checkpoint = this.#checkpointer.forBatch(tail, size, receipts.length);
      if (receipts.length === 0 && checkpoint === undefined) {
        uncheckpointed ||= size > tail.checkpointed;
        continue;
      }
      // A checkpoint-only batch names the chain it covers (everything sealed is submitted): never stored over another writer's.
      const prevHash = receipts.length === 0 ? { prevHash: tail.lastHash } : {};
      batches.push({ ledger: tail.ledger, expectedSeq: tail.submitted, receipts, texts, ...(checkpoint ? { checkpoint } : {}), ...prevHash });
      taken.push({ tail, receipts, texts, checkpointSize: checkpoint ? size : tail.checkpointed });
      tail.submitted = size;
    }
    return uncheckpointed;
  }

  /** The store took them; true if the ledger is durable beyond its last checkpoint. */
  #landed(t: Taken): boolean {
    const { tail, receipts } = t;
    if (this.#opts.onCommitted && receipts.length > 0) this.#opts.onCommitted(receipts);
    tail.checkpointed = Math.max(tail.checkpointed, t.checkpointSize);
    this.#durability.advance(tail, receipts.length);
    return tail.checkpointed < tail.durable;
  }

  /**
   * Another writer appended, or the batch does not link to what is stored:
   * the chain this log holds is not the ledger's. Nothing after this is sent
   * on top of it; the ledger is handed over once, to be rebuilt.
   */
  #fence(tail: LedgerTail, conflict: SeqConflictError): void {
    tail.fenced = conflict;
    this.#opts.logger.error({ ledger: tail.ledger, err: conflict }, "the stored ledger is not the chain this writer holds (another writer appended); it must be rebuilt");
    this.#durability.failAll(tail, conflict);
    // A tail already released (its ledger is being rebuilt) says nothing about the ledger now.
    if (this.#sequencer.holds(tail)) this.#opts.onFenced?.(tail.ledger, conflict);
  }
}
