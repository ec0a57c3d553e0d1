/**
 * The switch to the spool in safe mode. While it is on, commits go to the
 * local spool instead of the store, one after another so that the spool
 * keeps chain order; switching off drains the spool into the store first,
 * and receipts sealed meanwhile wait in memory until it is empty.
 */
import type { Logger } from "pino";
import type { LedgerStore, Spool, SpoolEntry } from "../ports/index.ts";
import type { CommitQueue } from "./commit-queue.ts";
import type { Durability } from "./durability.ts";
import { drainSpool } from "./spool.ts";

/** Where commits go: the store (off) or the spool (on). */
export class SpoolSwitch {
  readonly #spool: Spool;
  readonly #store: LedgerStore;
  readonly #logger: Logger;
  readonly #queue: CommitQueue;
  readonly #durability: Durability;
  #on = false;
  #draining = false;
  /** Spool commits, one after another. */
  #chain: Promise<void> = Promise.resolve();

  constructor(spool: Spool, store: LedgerStore, logger: Logger, queue: CommitQueue, durability: Durability) {
    this.#spool = spool;
    this.#store = store;
    this.#logger = logger;
    this.#queue = queue;
    this.#durability = durability;
  }

  /** Commits go to the spool. */
  get on(): boolean {
    return this.#on;
  }

  /** The spool is being drained into the store: nothing is committed until it is empty. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Switches commits to the spool; false if they went there already. */
  turnOn(): boolean {
    if (this.#on) return false;
    this.#on = true;
    return true;
  }

  /**
   * Drains the spool into the store, in order, after the spool commits under
   * way, then switches commits back to the store. Resolves with the number of
   * receipts drained; rejects, and stays on with the spool kept, if the store
   * fails again.
   */
  async turnOff(): Promise<number> {
    if (!this.#on) return 0;
    await this.#chain;
    this.#draining = true;
    try {
      const { receipts } = await drainSpool(this.#store, this.#spool, this.#logger);
      this.#on = false;
      return receipts;
    } finally {
      this.#draining = false;
    }
  }

  /** Runs a spool commit after those before it have ended. */
  serial(commit: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(commit);
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Writes every receipt waiting for a commit to the spool; they are durable once it is fsynced. */
  async commit(): Promise<void> {
    const taken = this.#queue.takeAll();
    const entries: SpoolEntry[] = [];
    for (const t of taken) for (const receipt of t.receipts) entries.push({ ledger: t.tail.ledger, receipt });
    if (entries.length === 0) return;
    try {
      await this.#spool.append(entries);
    } catch (err) {
      for (const t of taken) this.#queue.requeue(t);
      // Nothing is in flight to the store meanwhile: no commit can find a gap.
      this.#queue.mend();
      this.#logger.fatal({ err, spool: this.#spool.path }, "the safe-mode spool cannot be written; receipts stay in memory");
      throw err;
    }
    for (const t of taken) this.#durability.advance(t.tail, t.receipts.length);
  }
}
