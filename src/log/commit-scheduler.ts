/**
 * When commits run. Every receipt sealed in one turn of the event loop joins
 * one commit, started when the turn ends (or at once on a burst); up to
 * `maxInFlight` commits are under way together, the next group sent while one
 * is in the store. A commit the store refused is tried again after a delay
 * that grows while the store keeps failing; nothing is acknowledged
 * meanwhile. In safe mode commits go to the spool instead, one after another.
 */
import type { Logger } from "pino";
import type { Clock, LedgerStore } from "../ports/index.ts";
import type { CommitQueue } from "./commit-queue.ts";
import type { Committer } from "./committer.ts";
import type { LedgerTail } from "./sequencer.ts";
import type { SpoolSwitch } from "./spool-switch.ts";

/** Receipts sealed in one turn after which a commit starts without waiting for the turn to end. */
const EARLY_COMMIT_RECEIPTS = 512;

export interface CommitSchedulerOptions {
  readonly store: LedgerStore;
  /** Times the retries (and, in the log, seals and checkpoints). */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Commits that may be under way at once (default: the store's `commitsInFlight`, else 2): the next group is sent while one is in the store. */
  readonly maxInFlight?: number;
}

/** Starts commits, keeps the in-flight window, and retries. */
export class CommitScheduler {
  readonly #opts: CommitSchedulerOptions;
  readonly #queue: CommitQueue;
  readonly #committer: Committer;
  readonly #spool: SpoolSwitch | undefined;
  #flushScheduled = false;
  #retry: { cancel(): void } | null = null;
  #retryDelayMs = 0;
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  /** `spool`: absent when there is no safe mode (commits always go to the store). */
  constructor(opts: CommitSchedulerOptions, queue: CommitQueue, committer: Committer, spool: SpoolSwitch | undefined) {
    this.#opts = opts;
    this.#queue = queue;
    this.#committer = committer;
    this.#spool = spool;
  }

  /** A receipt was sealed for the ledger: it joins the next commit. */
  sealed(tail: LedgerTail): void {
    if (this.#queue.sealed(tail) >= EARLY_COMMIT_RECEIPTS) this.#commitEarly();
    else this.schedule();
  }

  /** Starts a commit once this turn of the event loop ends (unless a retry is waiting: it will). */
  schedule(): void {
    if (this.#flushScheduled || this.#retry !== null) return;
    this.#flushScheduled = true;
    // setImmediate: every decision taken in this turn of the event loop joins one commit.
    setImmediate(this.#flushNow);
  }

  /**
   * Commits everything queued so far; resolves when it is durable (or failed).
   * Commits of one ledger in flight together depend on each other: each links
   * to the one before, so the store writes none of a later one unless the
   * earlier one landed; the committer puts back, in order, what found a gap.
   */
  async flush(): Promise<void> {
    await this.#flushOnce();
    // A store with a batch limit leaves receipts for the next commit: go on until none are left.
    while (!this.#spool?.draining && !this.#spool?.on && this.#queue.hasPending()) await this.#flushOnce();
  }

  /** Refuses early commits and retries from now on (the log is closed). */
  close(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Drops a retry waiting for its delay (safe mode takes over, or the log closes). */
  cancelRetry(): void {
    this.#retry?.cancel();
    this.#retry = null;
  }

  #maxInFlight(): number {
    return this.#opts.maxInFlight ?? this.#opts.store.commitsInFlight ?? 2;
  }

  async #flushOnce(): Promise<void> {
    if (this.#spool?.draining) return;
    if (this.#spool?.on) return this.#spool.serial(this.#toSpool);
    const max = this.#maxInFlight();
    while (this.#inFlight.size >= max || (this.#queue.broken && this.#inFlight.size > 0)) {
      await Promise.race(this.#inFlight).catch(() => {});
    }
    this.#queue.mend();
    if (this.#queue.isEmpty) {
      await Promise.allSettled(this.#inFlight);
      return;
    }
    const run = this.#committer.commit();
    this.#inFlight.add(run);
    const earlier = [...this.#inFlight];
    try {
      await run;
    } finally {
      this.#inFlight.delete(run);
      // After a failure the retry timer reschedules; right after success, go on at once.
      if (!this.#queue.isEmpty && !this.#queue.broken) this.schedule();
    }
    await Promise.allSettled(earlier);
  }

  /** The spool continues exactly where the store stopped: the commits under way finish or fail first. */
  readonly #toSpool = async (): Promise<void> => {
    await Promise.allSettled(this.#inFlight);
    await this.#spool!.commit();
  };

  readonly #flushNow = (): void => {
    this.#flushScheduled = false;
    this.#startFlush();
  };

  #startFlush(): void {
    this.flush().then(this.#flushed, this.#flushFailed);
  }

  readonly #flushed = (): void => {
    this.#retryDelayMs = 0;
  };

  /**
   * A turn that seals many receipts (a burst of signals, a thousand deadlines
   * at once) sends the first of them to the store while it goes on deciding:
   * the store's thread commits them meanwhile instead of waiting for the turn
   * to end. Only when a commit slot is free and the store is healthy.
   */
  #commitEarly(): void {
    if (this.#spool?.on || this.#spool?.draining || this.#retry !== null || this.#queue.broken || this.#closed || this.#inFlight.size >= this.#maxInFlight()) {
      this.schedule();
      return;
    }
    this.#startFlush();
  }

  /** The store refused a commit: its receipts stay queued, in order, and it is tried again after a delay growing up to 5 s. */
  readonly #flushFailed = (err: unknown): void => {
    if (this.#retry !== null || this.#closed) return;
    this.#retryDelayMs = Math.min(5_000, Math.max(50, this.#retryDelayMs * 2));
    this.#opts.logger.warn({ err, retryInMs: this.#retryDelayMs }, "ledger commit failed; receipts stay queued and the commit is retried");
    this.#retry = this.#opts.clock.setTimeout(this.#retryDue, this.#retryDelayMs);
  };

  readonly #retryDue = (): void => {
    this.#retry = null;
    this.schedule();
  };
}
