/**
 * Callers waiting for the answer to their signal, keyed by tenant and signal
 * id. A caller registers before its signal is decided; the governor's `reply`
 * effect takes the waiter of that signal id, wherever and whenever it is
 * named; the answer is given once its receipt is durable, or `not_durable`
 * once the admission deadline passes first (a repeat of the signal id then
 * returns its outcome).
 */
import type { SignalReply } from "../../governors/decision.ts";
import type { Clock } from "../ports/index.ts";

type Settle = (reply: SignalReply) => void;

export class Replies {
  readonly #clock: Clock;
  readonly #durableMs: number;
  /** Waiting for the signal to be decided, by `account \0 signal id`. */
  readonly #undecided = new Map<string, Settle>();
  /** Decided, waiting for durability, with their deadline; insertion order is deadline order. */
  readonly #awaiting = new Map<Settle, number>();
  #sweep: { cancel(): void } | null = null;
  #stopped = false;

  constructor(clock: Clock, durableMs: number) {
    this.#clock = clock;
    this.#durableMs = durableMs;
  }

  /** Registers the caller of a signal about to be decided; null if one with that id is already waiting here. */
  expect(account: string, signalId: string, settle: Settle): boolean {
    const key = `${account}\u0000${signalId}`;
    if (this.#undecided.has(key)) return false;
    this.#undecided.set(key, settle);
    return true;
  }

  /** Drops a caller whose signal was never decided (the decision failed); true if it was still waiting. */
  forget(account: string, signalId: string): Settle | null {
    const key = `${account}\u0000${signalId}`;
    const settle = this.#undecided.get(key);
    if (settle === undefined) return null;
    this.#undecided.delete(key);
    return settle;
  }

  /**
   * Takes the caller of a decided signal: the returned function answers it
   * once, and answers `not_durable` at the admission deadline if it has not
   * been called by then. Null when no caller waits (a signal from a replay of
   * work, or one whose caller already had its answer).
   */
  take(account: string, signalId: string): Settle | null {
    const to = this.forget(account, signalId);
    if (to === null) return null;
    const settle: Settle = (reply) => {
      if (this.#awaiting.delete(settle)) to(reply);
    };
    this.#awaiting.set(settle, this.#clock.now() + this.#durableMs);
    // One timer for every caller: it looks a few times per deadline, not once per signal.
    this.#sweep ??= this.#clock.setTimeout(() => this.#expire(), this.#every());
    return settle;
  }

  #every(): number {
    return Math.max(5, Math.floor(this.#durableMs / 4));
  }

  #expire(): void {
    this.#sweep = null;
    const now = this.#clock.now();
    for (const [settle, at] of this.#awaiting) {
      if (at > now) break;
      settle({ kind: "unavailable", reason: "not_durable" });
    }
    if (this.#awaiting.size > 0 && !this.#stopped) this.#sweep = this.#clock.setTimeout(() => this.#expire(), this.#every());
  }

  stop(): void {
    this.#stopped = true;
    this.#sweep?.cancel();
  }
}
