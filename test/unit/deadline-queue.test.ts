import { describe, expect, it } from "vitest";
import type { Clock } from "../../src/ports.ts";
import { DeadlineQueue } from "../../src/runtime/deadline-queue.ts";

/** A clock whose time and timers the test moves; `early` makes timers fire that many ms before they are due. */
function manualClock(early = 0) {
  let now = 1000;
  let timers: { due: number; fn: () => void; live: boolean }[] = [];
  const clock: Clock & { advance(ms: number): void; timers(): number } = {
    now: () => now,
    setTimeout(fn, ms) {
      // Early, but never before the next millisecond: a timer still moves time forward.
      const t = { due: now + Math.max(1, ms - early), fn, live: true };
      timers.push(t);
      return { cancel: () => void (t.live = false) };
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const next = timers.filter((t) => t.live && t.due <= until).sort((a, b) => a.due - b.due)[0];
        if (next === undefined) break;
        now = Math.max(now, next.due);
        next.live = false;
        next.fn();
      }
      now = until;
      timers = timers.filter((t) => t.live);
    },
    timers: () => timers.filter((t) => t.live).length,
  };
  return clock;
}

describe("DeadlineQueue", () => {
  it("fires deadlines in time order, each once, on one timer", () => {
    const clock = manualClock();
    const q = new DeadlineQueue(clock);
    const fired: string[] = [];
    q.add(1500, () => fired.push("c"));
    q.add(1100, () => fired.push("a"));
    q.add(1300, () => fired.push("b"));
    expect(clock.timers()).toBe(1);
    clock.advance(200);
    expect(fired).toEqual(["a"]);
    clock.advance(1000);
    expect(fired).toEqual(["a", "b", "c"]);
    expect(q.pending).toBe(0);
  });

  it("never fires a cancelled deadline", () => {
    const clock = manualClock();
    const q = new DeadlineQueue(clock);
    const fired: number[] = [];
    const d = q.add(1100, () => fired.push(1));
    q.add(1200, () => fired.push(2));
    q.cancel(d);
    clock.advance(500);
    expect(fired).toEqual([2]);
  });

  it("waits out a timer that fires early and passes the time it fired", () => {
    const clock = manualClock(5);
    const q = new DeadlineQueue(clock);
    const at: number[] = [];
    q.add(1100, (now) => at.push(now));
    clock.advance(98);
    expect(at).toEqual([]);
    clock.advance(10);
    expect(at).toHaveLength(1);
    expect(at[0]).toBeGreaterThanOrEqual(1100);
  });

  it("fires nothing after stop", () => {
    const clock = manualClock();
    const q = new DeadlineQueue(clock);
    const fired: number[] = [];
    q.add(1100, () => fired.push(1));
    q.stop();
    clock.advance(500);
    expect(fired).toEqual([]);
  });
});
