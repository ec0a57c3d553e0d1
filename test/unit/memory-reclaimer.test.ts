import { describe, expect, it } from "vitest";
import type { Clock } from "../../src/ports.ts";
import { startMemoryReclaimer, type GcFunction } from "../../src/runtime/memory-reclaimer.ts";

/** A clock whose timers run when the test moves time. */
function manualClock() {
  let now = 0;
  let timers: { due: number; fn: () => void; live: boolean }[] = [];
  const clock: Clock & { advance(ms: number): void; pending(): number } = {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { due: now + ms, fn, live: true };
      timers.push(t);
      return { cancel: () => void (t.live = false) };
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const next = timers.filter((t) => t.live && t.due <= until).sort((a, b) => a.due - b.due)[0];
        if (next === undefined) break;
        now = next.due;
        next.live = false;
        next.fn();
      }
      now = until;
      timers = timers.filter((t) => t.live);
    },
    pending: () => timers.filter((t) => t.live).length,
  };
  return clock;
}

const logger = { debug: () => {} };

describe("the memory reclaimer", () => {
  it("collects once a quiet period follows work, never while work goes on, once per quiet spell", () => {
    const clock = manualClock();
    const calls: unknown[] = [];
    const gc: GcFunction = (o) => void calls.push(o);
    let work = 0;
    const r = startMemoryReclaimer({ clock, quietMs: 1000, activity: () => work, logger, gc });
    clock.advance(5000);
    expect(calls).toHaveLength(0); // nothing done, nothing to give back
    for (let i = 0; i < 5; i++) {
      work += 10;
      clock.advance(1000);
    }
    expect(calls).toHaveLength(0); // busy at every look
    clock.advance(1000);
    expect(calls).toEqual([{ type: "major", execution: "sync", flavor: "last-resort" }]);
    clock.advance(60_000);
    expect(r.reclaims).toBe(1); // a long quiet spell: still once
    work++;
    clock.advance(2000);
    expect(r.reclaims).toBe(2);
    r.stop();
    work++;
    clock.advance(10_000);
    expect(r.reclaims).toBe(2);
    expect(clock.pending()).toBe(0);
  });

  it("does nothing without a gc function (node started without --expose-gc) or with a quiet period of 0", () => {
    for (const options of [{ quietMs: 1000, gc: null }, { quietMs: 0, gc: () => {} }]) {
      const clock = manualClock();
      let work = 0;
      const r = startMemoryReclaimer({ clock, activity: () => work++, logger, ...options });
      clock.advance(10_000);
      expect(r.reclaims).toBe(0);
      expect(clock.pending()).toBe(0);
    }
  });
});
