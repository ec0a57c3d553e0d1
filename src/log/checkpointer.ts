/**
 * Publishing checkpoints: a commit carries, for each ledger it touches, a
 * signed checkpoint over everything sealed, at most one per ledger per
 * interval. Batches that shared an interval get theirs from a trailing pass
 * once the interval has passed; a decommission or a shutdown asks for one at
 * once.
 */
import { Buffer } from "node:buffer";
import { signCheckpoint, type SignerKey } from "../ledger/checkpoint.ts";
import type { Clock, StoredCheckpoint } from "../ports/index.ts";
import type { CommitQueue } from "./commit-queue.ts";
import type { LedgerTail, Sequencer } from "./sequencer.ts";

export interface CheckpointerOptions {
  readonly signers: readonly SignerKey[];
  /** A ledger's origin is `<prefix>/<ledger>`. */
  readonly originPrefix: string;
  readonly clock: Clock;
  /** A ledger gets at most one checkpoint per interval (default 1 s). */
  readonly intervalMs?: number;
  /** Checkpoints signed inside one commit of receipts (default 256); see `forBatch`. */
  readonly maxPerCommit?: number;
  /** The trailing pass queued ledgers: a commit should start. */
  readonly onDue: () => void;
}

/** Decides and signs the checkpoints each commit carries, and runs the trailing pass. */
export class Checkpointer {
  readonly #opts: CheckpointerOptions;
  readonly #sequencer: Sequencer;
  readonly #queue: CommitQueue;
  readonly #intervalMs: number;
  #timer: { cancel(): void } | null = null;
  #stopped = false;
  /** The commit being assembled: when it started, and how many ledgers with receipts may still be signed in it. */
  #now = 0;
  #budget = 0;

  constructor(opts: CheckpointerOptions, sequencer: Sequencer, queue: CommitQueue) {
    this.#opts = opts;
    this.#sequencer = sequencer;
    this.#queue = queue;
    this.#intervalMs = opts.intervalMs ?? 1000;
  }

  /** The origin line of a ledger's checkpoints. */
  origin(ledger: string): string {
    return `${this.#opts.originPrefix}/${ledger}`;
  }

  /** A commit is being assembled: the batches that follow share its time and its signing budget. */
  startCommit(): void {
    this.#now = this.#opts.clock.now();
    this.#budget = this.#opts.maxPerCommit ?? 256;
  }

  /**
   * The checkpoint the commit's batch for this ledger carries, if one is due:
   * only over everything sealed (never a partial batch), once per interval.
   * A commit that touches more ledgers than the budget leaves the rest to the
   * trailing pass, still within the interval, so signing never holds up
   * durability; a checkpoint-only batch (the trailing pass) is never deferred.
   */
  forBatch(tail: LedgerTail, size: number, receipts: number): StoredCheckpoint | undefined {
    const mayCheckpoint = (receipts === 0 || this.#budget-- > 0) && size === tail.sealed;
    if (size <= tail.checkpointed || this.#now - tail.lastCheckpointAt < this.#intervalMs || !mayCheckpoint) return undefined;
    const root = tail.frontier.root();
    if (tail.frontier.size !== size) throw new Error(`checkpoint at ${size} but frontier at ${tail.frontier.size}`);
    const note = signCheckpoint({ origin: this.origin(tail.ledger), size, root }, this.#opts.signers);
    tail.lastCheckpointAt = this.#now;
    return { size, root: Buffer.from(root).toString("base64"), note };
  }

  /** The next commit takes the ledger and checkpoints it, whatever the interval. */
  request(tail: LedgerTail): void {
    tail.lastCheckpointAt = 0;
    this.#queue.mark(tail);
  }

  /**
   * Queues every ledger not checkpointed up to its sealed size for the next
   * commit (`now`: whatever the interval); true if there was one.
   */
  queueUncheckpointed(now: boolean): boolean {
    let any = false;
    for (const tail of this.#sequencer.tails()) {
      if (tail.fenced || tail.checkpointed >= tail.sealed) continue;
      if (now) tail.lastCheckpointAt = 0;
      this.#queue.mark(tail);
      any = true;
    }
    return any;
  }

  /** Some ledger is durable beyond its last checkpoint: the trailing pass runs once the interval has passed. */
  armTrailing(): void {
    if (this.#timer !== null || this.#stopped) return;
    this.#timer = this.#opts.clock.setTimeout(() => {
      this.#timer = null;
      if (this.queueUncheckpointed(false)) this.#opts.onDue();
    }, this.#intervalMs);
  }

  /** Cancels the trailing pass; `forGood` also refuses to arm it again (the log is closed). */
  cancel(forGood = false): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#stopped ||= forGood;
  }
}
