/**
 * The single writer of every ledger in this process, as a pipeline:
 * sequencer (seal) → commit queue → committer (group commit, fencing) run by
 * the commit scheduler (in-flight window, retry) or, in safe mode, the spool
 * switch → checkpointer → durability (callbacks once durable). `seal` gives
 * a receipt at once, so the governor applies it without waiting;
 * `afterDurable` runs a callback only once everything sealed so far for that
 * ledger is durable. Effects are run through it: no effect ever runs, and no
 * caller is answered, before its receipt is durable.
 */
import type { SignerKey } from "../ledger/checkpoint.ts";
import type { MerkleFrontier } from "../ledger/merkle.ts";
import type { LedgerId, Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import type { Spool } from "../ports/index.ts";
import { Checkpointer } from "./checkpointer.ts";
import { CommitQueue } from "./commit-queue.ts";
import { CommitScheduler, type CommitSchedulerOptions } from "./commit-scheduler.ts";
import { Committer, type CommitterOptions } from "./committer.ts";
import { Durability } from "./durability.ts";
import { Sequencer, type LedgerResume } from "./sequencer.ts";
import { SpoolSwitch } from "./spool-switch.ts";

export type { LedgerResume } from "./sequencer.ts";

/** What the log needs: the committer's and the scheduler's options (documented there), and these. */
export interface LedgerLogOptions extends CommitterOptions, CommitSchedulerOptions {
  readonly signers: readonly SignerKey[];
  /** Checkpoint origin prefix: a ledger's origin is `<prefix>/<ledger>`. */
  readonly originPrefix: string;
  /** Receipt ids: lowercase UUIDv7s, as `createUuidV7Source` makes them (not checked again per receipt). */
  readonly newId: () => string;
  /** A ledger gets at most one checkpoint per interval (default 1 s); the batches between share the next one. */
  readonly checkpointIntervalMs?: number;
  /** Checkpoints signed inside one commit of receipts (default 256; see `Checkpointer.forBatch`). */
  readonly maxCheckpointsPerCommit?: number;
  /** Where receipts go while the store is down (safe mode). */
  readonly spool?: Spool;
}

const ignoreFailure = (): void => {};

/** The ledger writer: every stage of an append behind the methods callers use. */
export class LedgerLog {
  readonly #sequencer: Sequencer;
  readonly #queue = new CommitQueue();
  readonly #durability: Durability;
  readonly #checkpointer: Checkpointer;
  readonly #spool: SpoolSwitch | undefined;
  readonly #scheduler: CommitScheduler;

  constructor(opts: LedgerLogOptions) {
    const { store, clock, logger } = opts;
    this.#sequencer = new Sequencer(clock, opts.newId);
    this.#durability = new Durability(logger);
    const checkpoints = { signers: opts.signers, originPrefix: opts.originPrefix, clock, intervalMs: opts.checkpointIntervalMs, maxPerCommit: opts.maxCheckpointsPerCommit };
    this.#checkpointer = new Checkpointer({ ...checkpoints, onDue: () => this.#scheduler.schedule() }, this.#sequencer, this.#queue);
    this.#spool = opts.spool && new SpoolSwitch(opts.spool, store, logger, this.#queue, this.#durability);
    const committer = new Committer(opts, this.#queue, this.#sequencer, this.#checkpointer, this.#durability);
    this.#scheduler = new CommitScheduler(opts, this.#queue, committer, this.#spool);
  }

  /** The origin line of a ledger's checkpoints. */
  origin(ledger: string): string {
    return this.#checkpointer.origin(ledger);
  }

  /** Takes over a ledger from its current durable head. */
  open(ledger: LedgerId, resume?: LedgerResume): void {
    this.#sequencer.open(ledger, resume);
  }

  isOpen(ledger: string): boolean {
    return this.#sequencer.has(ledger);
  }

  /** Size including receipts sealed but not yet durable. */
  sealedSize(ledger: string): number {
    return this.#sequencer.tail(ledger).sealed;
  }

  /** A copy of the ledger's Merkle frontier at its sealed size. */
  frontier(ledger: string): MerkleFrontier {
    return this.#sequencer.tail(ledger).frontier.clone();
  }

  /** Receipts sealed by this log since it was made, on every ledger: a measure of work done. */
  get sealedTotal(): number {
    return this.#sequencer.sealedTotal;
  }

  durableSize(ledger: string): number {
    return this.#sequencer.tail(ledger).durable;
  }

  /** Seals a draft into the ledger's next receipt and queues it for the next group commit. */
  seal(ledger: LedgerId, draft: ReceiptDraft): Receipt {
    const tail = this.#sequencer.tail(ledger);
    if (tail.fenced) throw tail.fenced;
    if (this.#scheduler.closed) throw new Error("ledger writer is closed");
    const receipt = this.#sequencer.seal(tail, draft);
    this.#scheduler.sealed(tail);
    return receipt;
  }

  /** Runs `run` once every receipt sealed so far for the ledger is durable (or `fail` if it cannot be). */
  afterDurable(ledger: string, run: () => void, fail: (err: Error) => void = ignoreFailure): void {
    this.#durability.after(this.#sequencer.tail(ledger), run, fail);
  }

  /** A promise for `afterDurable`. */
  durable(ledger: string): Promise<void> {
    return new Promise((resolve, reject) => this.afterDurable(ledger, resolve, reject));
  }

  /** Commits everything sealed so far; resolves when it is durable (or failed). */
  flush(): Promise<void> {
    return this.#scheduler.flush();
  }

  /**
   * Safe mode: from now on receipts are made durable in the local spool
   * (fsynced, in chain order) instead of the store. Commits already under way
   * are let finish or fail first (the store's calls have deadlines), so the
   * spool continues exactly where the store stopped.
   */
  enterSpoolMode(): void {
    if (this.#spool === undefined || !this.#spool.turnOn()) return;
    this.#scheduler.cancelRetry();
    this.#scheduler.schedule();
  }

  /**
   * The store answers again: moves the spool into it in order, then goes
   * back to committing to the store. Receipts sealed meanwhile wait in memory.
   * Rejects (and stays in safe mode, spool kept) if the store fails again.
   */
  async leaveSpoolMode(): Promise<number> {
    const spool = this.#spool;
    if (spool === undefined || !spool.on) return 0;
    try {
      return await spool.turnOff();
    } finally {
      // The spool carries no checkpoints: the ledgers it took get theirs from the store now.
      if (!spool.on) this.#checkpointer.queueUncheckpointed(false);
      this.#scheduler.schedule();
    }
  }

  /** Writes a checkpoint over everything durable now (the last act of a decommission, and of shutdown). */
  async checkpointNow(ledger: LedgerId): Promise<void> {
    await this.flush();
    const tail = this.#sequencer.tail(ledger);
    if (tail.checkpointed >= tail.durable && tail.durable > 0) return;
    this.#checkpointer.request(tail);
    await this.flush();
  }

  /** Flushes, writes the trailing checkpoints, and refuses further receipts. */
  async close(): Promise<void> {
    this.#checkpointer.cancel();
    this.#scheduler.cancelRetry();
    this.#checkpointer.queueUncheckpointed(true);
    await this.flush();
    this.#scheduler.close();
    this.#checkpointer.cancel(true);
  }

  /** Forgets a ledger (after a decommission, or to rebuild it after a conflict). */
  release(ledger: string): void {
    this.#sequencer.release(ledger);
  }
}
