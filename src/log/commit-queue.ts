/**
 * What waits for the next commit: the ledgers with sealed receipts or a
 * checkpoint to write. A commit takes them all at once; receipts that did not
 * land are put back in seq order in front of those sealed since.
 */
import type { Receipt } from "../ledger/receipt.ts";
import type { LedgerTail } from "./sequencer.ts";

/** What one commit took from one ledger. */
export interface Taken {
  readonly tail: LedgerTail;
  readonly receipts: Receipt[];
  readonly texts: string[];
  /** The ledger's checkpointed size once these land. */
  readonly checkpointSize: number;
}

/** The ledgers waiting for a commit. */
export class CommitQueue {
  #dirty = new Set<LedgerTail>();
  /** The set handed to the last `take`, reused by the next one. */
  #spare = new Set<LedgerTail>();
  /** Receipts sealed since a commit last took them. */
  #uncommitted = 0;
  #broken = false;

  /** A receipt was sealed for the ledger; returns how many now wait for a commit. */
  sealed(tail: LedgerTail): number {
    this.#dirty.add(tail);
    return ++this.#uncommitted;
  }

  /** The ledger goes in the next commit, even without receipts (for a checkpoint, or what a batch limit left). */
  mark(tail: LedgerTail): void {
    this.#dirty.add(tail);
  }

  get isEmpty(): boolean {
    return this.#dirty.size === 0;
  }

  /** Receipts wait that a commit could send. */
  hasPending(): boolean {
    for (const tail of this.#dirty) if (tail.pending.length > 0 && !tail.fenced) return true;
    return false;
  }

  /**
   * Every waiting ledger, for a commit to take from; the queue is empty
   * after. The set is the caller's until its next call: it must be read (and
   * may be cleared) before then.
   */
  take(): ReadonlySet<LedgerTail> {
    const taken = this.#dirty;
    this.#spare.clear();
    this.#dirty = this.#spare;
    this.#spare = taken;
    this.#uncommitted = 0;
    return taken;
  }

  /** Takes every pending receipt of every waiting ledger at once (for the spool, which keeps chain order itself). */
  takeAll(): Taken[] {
    const taken: Taken[] = [];
    for (const tail of this.take()) {
      if (tail.fenced || tail.pending.length === 0) continue;
      taken.push({ tail, receipts: tail.pending, texts: tail.pendingTexts, checkpointSize: tail.checkpointed });
      tail.submitted += tail.pending.length;
      tail.pending = [];
      tail.pendingTexts = [];
    }
    return taken;
  }

  /** Receipts were put back: a commit under way may find a gap, so none starts until those have answered. */
  get broken(): boolean {
    return this.#broken;
  }

  /** The commits under way have answered: the next one may start. */
  mend(): void {
    this.#broken = false;
  }

  /** Puts receipts that did not land back in front of those sealed since, in seq order (both runs are in seq order). */
  requeue(t: Taken): void {
    const { tail, receipts, texts } = t;
    const later = tail.pending;
    const laterTexts = tail.pendingTexts;
    tail.pending = [];
    tail.pendingTexts = [];
    for (let i = 0, j = 0; i < receipts.length || j < later.length; ) {
      const fromTaken = j >= later.length || (i < receipts.length && receipts[i]!.seq <= later[j]!.seq);
      tail.pending.push(fromTaken ? receipts[i]! : later[j]!);
      tail.pendingTexts.push(fromTaken ? texts[i++]! : laterTexts[j++]!);
    }
    tail.submitted = tail.durable;
    tail.lastCheckpointAt = 0;
    this.#dirty.add(tail);
    this.#broken = true;
  }
}
