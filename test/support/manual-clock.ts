/** A clock the test moves by hand: `advance` fires every timer that falls due, in time order. */
import type { Clock } from "../../src/ports/index.ts";

export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  readonly #early: number;

  /** `early`: timers fire that many ms before they are due, as a wall-clock timer may (never before the next ms). */
  constructor(start: number, options: { early?: number } = {}) {
    this.#now = start;
    this.#early = options.early ?? 0;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const delay = this.#early > 0 ? Math.max(1, ms - this.#early) : Math.max(0, ms);
    const t = { at: this.#now + delay, fn, cancelled: false };
    this.#timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  /** Timers armed and neither fired nor cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const due = this.#timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#now = Math.max(this.#now, due.at);
      due.cancelled = true;
      due.fn();
    }
    this.#now = until;
  }
}
