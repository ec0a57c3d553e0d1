/**
 * The last stage of an append: telling who waits. A callback registered with
 * `after` runs once everything sealed so far for its ledger is durable, in the
 * order receipts became durable across ledgers; effects are run this way, so
 * none runs, and no caller is answered, before its receipt is durable.
 */
import type { Logger } from "pino";
import type { LedgerTail } from "./sequencer.ts";

/** How long ready callbacks run before the event loop gets a turn (see `#runReady`). */
const READY_SLICE_MS = 4;

/** Runs callbacks once their ledger is durable far enough. */
export class Durability {
  readonly #logger: Logger;
  /** Callbacks whose receipts are durable, in the order they became so; run from `#readyHead` on. */
  readonly #ready: (() => void)[] = [];
  #readyHead = 0;
  #readyScheduled = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Runs `run` once every receipt sealed so far for the ledger is durable, or `fail` if it cannot be. */
  after(tail: LedgerTail, run: () => void, fail: (err: Error) => void): void {
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

  /** `count` more of the ledger's receipts are durable: the callbacks waiting for them become ready. */
  advance(tail: LedgerTail, count: number): void {
    tail.durable += count;
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

  /** The ledger can never become durable as this log holds it: every callback waiting on it fails. */
  failAll(tail: LedgerTail, err: Error): void {
    for (const w of tail.waiters.splice(0)) w.fail(err);
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
        this.#logger.error({ err }, "an effect run after its receipts became durable threw");
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
}
