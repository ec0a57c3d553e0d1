/**
 * Action deadlines of a whole host on one timer: a min-heap ordered by time,
 * with one clock timer armed for the earliest. Tens of thousands of actions a
 * second each arm and cancel a deadline; a flag and a heap entry cost far
 * less than a timer each.
 *
 * A deadline fires only once the clock has reached it: timers may fire a
 * millisecond early by the wall clock, and an early deadline is re-armed,
 * never dropped.
 */
import type { Clock } from "../ports/index.ts";

export interface Deadline {
  readonly at: number;
  cancelled: boolean;
}

interface Entry extends Deadline {
  readonly fire: (now: number) => void;
}

export class DeadlineQueue {
  readonly #clock: Clock;
  readonly #heap: Entry[] = [];
  #timer: { cancel(): void } | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Calls `fire(now)` once the clock reaches `at`, unless cancelled first. */
  add(at: number, fire: (now: number) => void): Deadline {
    const entry: Entry = { at, cancelled: false, fire };
    this.#push(entry);
    if (at < this.#timerAt) this.#arm();
    return entry;
  }

  cancel(d: Deadline): void {
    d.cancelled = true;
  }

  /** When the earliest deadline not cancelled is (infinity when none is). */
  get nextAt(): number {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop();
    return this.#heap[0]?.at ?? Number.POSITIVE_INFINITY;
  }

  /** Deadlines not yet fired or cancelled (for tests and metrics). */
  get pending(): number {
    return this.#heap.reduce((n, e) => n + (e.cancelled ? 0 : 1), 0);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  #arm(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const at = this.nextAt;
    if (this.#stopped || at === Number.POSITIVE_INFINITY) return;
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => this.#run(), Math.max(1, at - this.#clock.now()));
  }

  /**
   * Fires every deadline the clock has reached now, without waiting for the
   * timer: for work of lower priority than deadlines, which runs this first.
   */
  runDue(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const e = this.#pop();
      if (!e.cancelled) {
        e.cancelled = true;
        e.fire(now);
      }
    }
  }

  #run(): void {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.runDue();
    this.#arm();
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  #pop(): Entry {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
        if (h[c]!.at >= last.at) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
