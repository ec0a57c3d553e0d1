/**
 * The single writer of every ledger in this process.
 *
 * `seal` turns a decision into a receipt at once (seq, prev_hash, timestamp,
 * hash), so the governor can apply it without waiting; `flush` group-commits
 * every ledger's sealed receipts in one `appendMany`, with the checkpoint
 * over each ledger; `afterDurable` runs a callback only once everything
 * sealed so far for that ledger is durable. Effects are run through it: no
 * effect ever runs, and no caller is answered, before its receipt is durable.
 */
import { Buffer } from "node:buffer";
import type { Logger } from "pino";
import { isoTimestamp } from "../../governors/timestamps.ts";
import { genesisHash, sealWithContext } from "../ledger/hash.ts";
import { MerkleFrontier } from "../ledger/merkle.ts";
import { signCheckpoint, type SignerKey } from "../ledger/checkpoint.ts";
import { accountIdPattern, PLATFORM_LEDGER, type LedgerId, type Receipt, type ReceiptDraft } from "../ledger/receipt.ts";
import { ChainConflictError, SeqConflictError, type AppendBatch, type Clock, type LedgerStore, type StoredCheckpoint } from "../ports.ts";
import { drainSpool, type FileSpool, type SpoolEntry } from "./spool.ts";

/** Receipts sealed in one turn after which a commit starts without waiting for the turn to end. */
const EARLY_COMMIT_RECEIPTS = 512;

/** How long ready callbacks run before the event loop gets a turn (see `#runReady`). */
const READY_SLICE_MS = 4;

interface LedgerTail {
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
  /** The JSON text of each pending receipt (`sealReceiptText`), in the same order. */
  pendingTexts: string[];
  /** Callbacks waiting for durability up to a size. */
  waiters: { size: number; run: () => void; fail: (err: Error) => void }[];
  /** Tree size of the last checkpoint written. */
  checkpointed: number;
  lastCheckpointAt: number;
  /** Set when a conflicting writer was detected: the ledger must be rebuilt. */
  fenced: Error | null;
}

export interface LedgerWriterOptions {
  readonly store: LedgerStore;
  readonly signers: readonly SignerKey[];
  /** Checkpoint origin prefix: a ledger's origin is `<prefix>/<ledger>`. */
  readonly originPrefix: string;
  readonly clock: Clock;
  /** Receipt ids: lowercase UUIDv7s, as `createUuidV7Source` makes them (not checked again per receipt). */
  readonly newId: () => string;
  readonly logger: Logger;
  /** A ledger gets at most one checkpoint per interval; the batches between share the next one. */
  readonly checkpointIntervalMs?: number;
  /** Called when an append fails for a reason other than a conflict (store down). */
  readonly onStoreError?: (err: Error) => void;
  /** Commits that may be under way at once (default 2): the next group is sent while one is in the store. */
  readonly maxInFlight?: number;
  /**
   * Called once per ledger when its stored chain is not the one this writer
   * holds (another writer appended: SeqConflictError, or ChainConflictError
   * for a commit that does not link): this writer stops writing it, drops
   * what it had in flight for it, and the ledger must be rebuilt.
   */
  readonly onFenced?: (ledger: LedgerId, err: SeqConflictError) => void;
  /** Called after each committed group with the receipts it made durable (metrics, benchmarks). */
  readonly onCommitted?: (receipts: readonly Receipt[]) => void;
  /** Where receipts go while the store is down (safe mode). */
  readonly spool?: FileSpool;
  /**
   * Checkpoints signed inside one commit of receipts (default 256): a commit
   * that touches more ledgers leaves the rest to the trailing checkpoint
   * pass, still within the interval, so signing never holds up durability.
   */
  readonly maxCheckpointsPerCommit?: number;
}

/** What the writer knows of a ledger when it takes it over. */
export interface LedgerResume {
  readonly size: number;
  readonly lastHash: string;
  readonly lastTimestamp: string | null;
  /** Every receipt hash, to rebuild the Merkle frontier; or a frontier restored from a snapshot. */
  readonly frontier: MerkleFrontier;
  readonly checkpointed: number;
}

export class LedgerWriter {
  readonly #opts: LedgerWriterOptions;
  readonly #tails = new Map<string, LedgerTail>();
  readonly #dirty = new Set<LedgerTail>();
  #flushScheduled = false;
  #retry: { cancel(): void } | null = null;
  #retryDelayMs = 0;
  /** Commits under way, oldest first. */
  readonly #inFlight = new Set<Promise<void>>();
  /** A commit failed: no new one starts until those under way have answered. */
  #broken = false;
  #checkpointTimer: { cancel(): void } | null = null;
  #closed = false;
  /** Safe mode: receipts go to the local spool instead of the store. */
  #spooling = false;
  /** The spool is being drained: receipts wait in memory until it is empty. */
  #draining = false;
  #spoolChain: Promise<void> = Promise.resolve();
  /** Receipts sealed since the last commit took them. */
  #uncommitted = 0;
  #sealedTotal = 0;
  /** Callbacks whose receipts are durable, in the order they became so; run from `#readyHead` on. */
  readonly #ready: (() => void)[] = [];
  #readyHead = 0;
  #readyScheduled = false;

  constructor(opts: LedgerWriterOptions) {
    this.#opts = opts;
  }

  /** The origin line of a ledger's checkpoints. */
  origin(ledger: string): string {
    return `${this.#opts.originPrefix}/${ledger}`;
  }

  /** Takes over a ledger from its current durable head. */
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

  isOpen(ledger: string): boolean {
    return this.#tails.has(ledger);
  }

  /** Size including receipts sealed but not yet durable. */
  sealedSize(ledger: string): number {
    return this.#tail(ledger).sealed;
  }

  /** A copy of the ledger's Merkle frontier at its sealed size. */
  frontier(ledger: string): MerkleFrontier {
    return this.#tail(ledger).frontier.clone();
  }

  /** Receipts sealed by this writer since it was made, on every ledger: a measure of work done. */
  get sealedTotal(): number {
    return this.#sealedTotal;
  }

  durableSize(ledger: string): number {
    return this.#tail(ledger).durable;
  }

  /** Seals a draft into the ledger's next receipt and queues it for the next group commit. */
  seal(ledger: LedgerId, draft: ReceiptDraft): Receipt {
    const tail = this.#tail(ledger);
    if (tail.fenced) throw tail.fenced;
    if (this.#closed) throw new Error("ledger writer is closed");
    const nowMs = Math.max(this.#opts.clock.now(), tail.lastTimestampMs);
    // Every part of the context is made here (the ledger id checked at open): sealed without checking it again.
    const { receipt, text } = sealWithContext(draft, {
      ledger,
      seq: tail.sealed,
      prevHash: tail.lastHash,
      timestamp: isoTimestamp(nowMs),
      receiptId: this.#opts.newId(),
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
    this.#dirty.add(tail);
    if (++this.#uncommitted >= EARLY_COMMIT_RECEIPTS) this.#commitEarly();
    else this.#scheduleFlush();
    return receipt;
  }

  /** Runs `run` once every receipt sealed so far for the ledger is durable (or `fail` if it cannot be). */
  afterDurable(ledger: string, run: () => void, fail: (err: Error) => void = () => {}): void {
    const tail = this.#tail(ledger);
    if (tail.fenced) {
      fail(tail.fenced);
      return;
    }
    if (tail.durable >= tail.sealed) {
      // Behind the callbacks that became ready before it, if any wait.
      if (this.#readyScheduled) this.#ready.push(run);
      else queueMicrotask(run);
      return;
    }
    tail.waiters.push({ size: tail.sealed, run, fail });
  }

  /** A promise for `afterDurable`. */
  durable(ledger: string): Promise<void> {
    return new Promise((resolve, reject) => this.afterDurable(ledger, resolve, reject));
  }

  #tail(ledger: string): LedgerTail {
    const tail = this.#tails.get(ledger);
    if (tail === undefined) throw new Error(`ledger ${ledger} is not open in this writer`);
    return tail;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#retry !== null) return;
    this.#flushScheduled = true;
    // setImmediate: every decision taken in this turn of the event loop joins one commit.
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#startFlush();
    });
  }

  /** Commits that may be under way at once. */
  #maxInFlight(): number {
    return this.#opts.maxInFlight ?? this.#opts.store.commitsInFlight ?? 2;
  }

  #startFlush(): void {
    this.flush().then(
      () => {
        this.#retryDelayMs = 0;
      },
      (err: unknown) => this.#retryLater(err),
    );
  }

  /**
   * A turn that seals many receipts (a burst of signals, a thousand deadlines
   * at once) sends the first of them to the store while it goes on deciding:
   * the store's thread commits them meanwhile instead of waiting for the turn
   * to end. Only when a commit slot is free and the store is healthy.
   */
  #commitEarly(): void {
    if (this.#spooling || this.#draining || this.#retry !== null || this.#broken || this.#closed || this.#inFlight.size >= this.#maxInFlight()) {
      this.#scheduleFlush();
      return;
    }
    this.#startFlush();
  }

  /**
   * The store refused a commit: the receipts stay queued, in order, and the
   * commit is tried again after a delay that grows (up to 5 s) while it keeps
   * failing. Nothing is acknowledged meanwhile.
   */
  #retryLater(err: unknown): void {
    if (this.#retry !== null || this.#closed) return;
    this.#retryDelayMs = Math.min(5_000, Math.max(50, this.#retryDelayMs * 2));
    this.#opts.logger.warn({ err, retryInMs: this.#retryDelayMs }, "ledger commit failed; receipts stay queued and the commit is retried");
    this.#retry = this.#opts.clock.setTimeout(() => {
      this.#retry = null;
      this.#scheduleFlush();
    }, this.#retryDelayMs);
  }

  /**
   * Commits everything sealed so far; resolves when it is durable (or failed).
   * Up to `maxInFlight` commits run at once: while one is in the store, the
   * next group is sealed and sent. Commits of one ledger in flight together
   * depend on each other: each links to the one before, so the store writes
   * none of a later one unless the earlier one landed. A commit that failed
   * because the store did makes the ones after it find gaps; those are
   * re-queued in order, behind it. A commit refused because another writer
   * appended (or it does not link to what is stored) fences the ledger: the
   * ones after it are dropped, not retried, and `onFenced` is told once.
   */
  async flush(): Promise<void> {
    await this.#flushOnce();
    // A store with a batch limit leaves receipts for the next commit: go on until none are left.
    while (!this.#draining && !this.#spooling && [...this.#dirty].some((t) => t.pending.length > 0 && !t.fenced)) await this.#flushOnce();
  }

  async #flushOnce(): Promise<void> {
    if (this.#draining) return;
    if (this.#spooling) {
      const run = this.#spoolChain.then(() => this.#toSpool());
      this.#spoolChain = run.catch(() => {});
      return run;
    }
    const max = this.#maxInFlight();
    while (this.#inFlight.size >= max || (this.#broken && this.#inFlight.size > 0)) {
      await Promise.race(this.#inFlight).catch(() => {});
    }
    this.#broken = false;
    if (this.#dirty.size === 0) {
      await Promise.allSettled(this.#inFlight);
      return;
    }
    const run = this.#commit();
    this.#inFlight.add(run);
    const earlier = [...this.#inFlight];
    try {
      await run;
    } finally {
      this.#inFlight.delete(run);
      // After a failure the retry timer reschedules; right after success, go on at once.
      if (this.#dirty.size > 0 && !this.#broken) this.#scheduleFlush();
    }
    await Promise.allSettled(earlier);
  }

  /**
   * Safe mode: from now on receipts are made durable in the local spool
   * (fsynced, in chain order) instead of the store. Commits already under way
   * are let finish or fail first (the store's calls have deadlines), so the
   * spool continues exactly where the store stopped.
   */
  enterSpoolMode(): void {
    if (this.#spooling || this.#opts.spool === undefined) return;
    this.#spooling = true;
    this.#retry?.cancel();
    this.#retry = null;
    this.#scheduleFlush();
  }

  /**
   * The store answers again: moves the spool into it in order, then goes
   * back to committing to the store. Receipts sealed meanwhile wait in memory.
   * Rejects (and stays in safe mode, spool kept) if the store fails again.
   */
  async leaveSpoolMode(): Promise<number> {
    const spool = this.#opts.spool;
    if (!this.#spooling || spool === undefined) return 0;
    await this.#spoolChain;
    this.#draining = true;
    try {
      const { receipts } = await drainSpool(this.#opts.store, spool, this.#opts.logger);
      this.#spooling = false;
      return receipts;
    } finally {
      this.#draining = false;
      if (!this.#spooling) {
        for (const tail of this.#tails.values()) {
          if (!tail.fenced && tail.checkpointed < tail.sealed) this.#dirty.add(tail);
        }
      }
      this.#scheduleFlush();
    }
  }

  /** Writes every pending receipt to the spool; they are durable once it is fsynced. */
  async #toSpool(): Promise<void> {
    await Promise.allSettled(this.#inFlight);
    const spool = this.#opts.spool!;
    const entries: SpoolEntry[] = [];
    const taken: { tail: LedgerTail; receipts: Receipt[]; texts: string[] }[] = [];
    this.#uncommitted = 0;
    for (const tail of this.#dirty) {
      if (tail.fenced || tail.pending.length === 0) continue;
      const receipts = tail.pending;
      const texts = tail.pendingTexts;
      tail.pending = [];
      tail.pendingTexts = [];
      for (const receipt of receipts) entries.push({ ledger: tail.ledger, receipt });
      taken.push({ tail, receipts, texts });
      tail.submitted += receipts.length;
    }
    this.#dirty.clear();
    if (entries.length === 0) return;
    try {
      await spool.append(entries);
    } catch (err) {
      for (const { tail, receipts, texts } of taken) this.#requeue(tail, receipts, texts);
      this.#broken = false;
      this.#opts.logger.fatal({ err, spool: spool.path }, "the safe-mode spool cannot be written; receipts stay in memory");
      throw err;
    }
    for (const { tail, receipts } of taken) {
      tail.durable += receipts.length;
      this.#runReadyWaiters(tail);
    }
  }

  /** Moves the callbacks waiting for durability up to what the ledger now has durable to the ready queue. */
  #runReadyWaiters(tail: LedgerTail): void {
    const waiters = tail.waiters;
    let n = 0;
    while (n < waiters.length && waiters[n]!.size <= tail.durable) n++;
    if (n === 0) return;
    const ready = this.#ready;
    for (let i = 0; i < n; i++) ready.push(waiters[i]!.run);
    tail.waiters = n === waiters.length ? [] : waiters.slice(n);
    if (!this.#readyScheduled) {
      this.#readyScheduled = true;
      setImmediate(this.#runReady);
    }
  }

  /**
   * Runs ready callbacks for at most READY_SLICE_MS, then lets the event loop
   * turn (so that the store's next acknowledgements are seen) before going
   * on: one commit of thousands of receipts would otherwise hold the thread
   * for the whole of what its callbacks start, and every commit sent
   * meanwhile would wait for that turn to end before its answer counts.
   */
  readonly #runReady = (): void => {
    const ready = this.#ready;
    const until = performance.now() + READY_SLICE_MS;
    let i = this.#readyHead;
    while (i < ready.length) {
      const run = ready[i++]!;
      try {
        run();
      } catch (err) {
        this.#opts.logger.error({ err }, "an effect run after its receipts became durable threw");
      }
      if ((i & 63) === 0 && performance.now() >= until) break;
    }
    if (i >= ready.length) {
      ready.length = 0;
      this.#readyHead = 0;
      this.#readyScheduled = false;
    } else {
      // Under sustained load the queue may never empty: what has run is dropped from its front now and then.
      if (i >= 4096 && i >= ready.length >>> 1) {
        ready.splice(0, i);
        i = 0;
      }
      this.#readyHead = i;
      setImmediate(this.#runReady);
    }
  };

  /** Puts receipts of a failed or gapped commit (with their texts) back in front of what was sealed since, in seq order. */
  #requeue(tail: LedgerTail, receipts: Receipt[], texts: string[]): void {
    const all = receipts.map((r, i) => [r, texts[i]!] as const).concat(tail.pending.map((r, i) => [r, tail.pendingTexts[i]!] as const));
    all.sort((a, b) => a[0].seq - b[0].seq);
    tail.pending = all.map(([r]) => r);
    tail.pendingTexts = all.map(([, t]) => t);
    tail.submitted = tail.durable;
    tail.lastCheckpointAt = 0;
    this.#dirty.add(tail);
    this.#broken = true;
  }

  async #commit(): Promise<void> {
    const now = this.#opts.clock.now();
    const interval = this.#opts.checkpointIntervalMs ?? 1000;
    const batches: AppendBatch[] = [];
    const taken: { tail: LedgerTail; receipts: Receipt[]; texts: string[]; checkpointSize: number }[] = [];
    let uncheckpointed = false;
    let signBudget = this.#opts.maxCheckpointsPerCommit ?? 256;
    const maxBatch = this.#opts.store.maxBatchReceipts ?? Number.POSITIVE_INFINITY;
    const leftOver: LedgerTail[] = [];
    this.#uncommitted = 0;
    for (const tail of this.#dirty) {
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
        leftOver.push(tail);
      }
      const size = tail.submitted + receipts.length;
      let checkpoint: StoredCheckpoint | undefined;
      // Checkpoint-only batches (the trailing pass) are never deferred; a checkpoint covers everything sealed.
      const mayCheckpoint = (receipts.length === 0 || signBudget-- > 0) && size === tail.sealed;
      if (size > tail.checkpointed && now - tail.lastCheckpointAt >= interval && mayCheckpoint) {
        checkpoint = this.#checkpoint(tail, size);
        tail.lastCheckpointAt = now;
      }
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
    this.#dirty.clear();
    for (const tail of leftOver) this.#dirty.add(tail);
    if (batches.length === 0) {
      if (uncheckpointed) this.#armCheckpointTimer(interval);
      return;
    }

    let outcomes: readonly (SeqConflictError | null)[];
    try {
      outcomes = await this.#opts.store.appendMany(batches);
    } catch (err) {
      // Nothing was acknowledged: keep the receipts, in order, for the next attempt.
      for (const { tail, receipts, texts } of taken) this.#requeue(tail, receipts, texts);
      this.#opts.onStoreError?.(err as Error);
      throw err;
    }
    for (const [i, { tail, receipts, texts, checkpointSize }] of taken.entries()) {
      const conflict = outcomes[i];
      if (conflict && tail.fenced) {
        // Handed over already: what else it had in flight is dropped with it (the store wrote none of it, since none of it links).
        this.#opts.logger.info({ ledger: tail.ledger, code: conflict.code, expectedSeq: conflict.expectedSeq, receipts: receipts.length }, "a commit in flight behind a refused one was refused too; dropped");
        continue;
      }
      if (conflict && !(conflict instanceof ChainConflictError) && conflict.actualSize < conflict.expectedSeq) {
        // A gap: an earlier commit of ours did not land (the store failed). Send these again after it.
        this.#requeue(tail, receipts, texts);
        continue;
      }
      if (conflict) {
        // Another writer appended, or these do not link to what is stored: the chain this writer holds is not the
        // ledger's. Nothing after this is sent on top of it; the ledger is handed over once, to be rebuilt.
        tail.fenced = conflict;
        this.#opts.logger.error({ ledger: tail.ledger, err: conflict }, "the stored ledger is not the chain this writer holds (another writer appended); it must be rebuilt");
        for (const w of tail.waiters.splice(0)) w.fail(conflict);
        // A tail already released (its ledger is being rebuilt) says nothing about the ledger now.
        if (this.#tails.get(tail.ledger) === tail) this.#opts.onFenced?.(tail.ledger, conflict);
        continue;
      }
      tail.durable += receipts.length;
      if (this.#opts.onCommitted && receipts.length > 0) this.#opts.onCommitted(receipts);
      tail.checkpointed = Math.max(tail.checkpointed, checkpointSize);
      if (tail.checkpointed < tail.durable) uncheckpointed = true;
      this.#runReadyWaiters(tail);
    }
    if (uncheckpointed) this.#armCheckpointTimer(interval);
  }

  /** Batches that shared an interval still get their checkpoint: a trailing one, once the interval passes. */
  #armCheckpointTimer(interval: number): void {
    if (this.#checkpointTimer !== null || this.#closed) return;
    this.#checkpointTimer = this.#opts.clock.setTimeout(() => {
      this.#checkpointTimer = null;
      let any = false;
      for (const tail of this.#tails.values()) {
        if (!tail.fenced && tail.checkpointed < tail.sealed) {
          this.#dirty.add(tail);
          any = true;
        }
      }
      if (any) this.#scheduleFlush();
    }, interval);
  }

  #checkpoint(tail: LedgerTail, size: number): StoredCheckpoint {
    const root = tail.frontier.root();
    if (tail.frontier.size !== size) {
      // Sealed receipts beyond this batch are in the frontier already: compute the root at `size`.
      throw new Error(`checkpoint at ${size} but frontier at ${tail.frontier.size}`);
    }
    const note = signCheckpoint({ origin: this.origin(tail.ledger), size, root }, this.#opts.signers);
    return { size, root: Buffer.from(root).toString("base64"), note };
  }

  /** Writes a checkpoint over everything durable now (the last act of a decommission, and of shutdown). */
  async checkpointNow(ledger: LedgerId): Promise<void> {
    await this.flush();
    const tail = this.#tail(ledger);
    if (tail.checkpointed >= tail.durable && tail.durable > 0) return;
    tail.lastCheckpointAt = 0;
    this.#dirty.add(tail);
    await this.flush();
  }

  /** Flushes, writes the trailing checkpoints, and refuses further receipts. */
  async close(): Promise<void> {
    this.#checkpointTimer?.cancel();
    this.#checkpointTimer = null;
    this.#retry?.cancel();
    this.#retry = null;
    for (const tail of this.#tails.values()) {
      if (!tail.fenced && tail.checkpointed < tail.sealed) {
        tail.lastCheckpointAt = 0;
        this.#dirty.add(tail);
      }
    }
    await this.flush();
    this.#closed = true;
  }

  /** Forgets a ledger (after a decommission, or to rebuild it after a conflict). */
  release(ledger: string): void {
    this.#tails.delete(ledger);
  }
}
