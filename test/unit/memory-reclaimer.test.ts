import { describe, expect, it } from "vitest";
import { startMemoryReclaimer, type GcFunction } from "../../src/app/memory-reclaimer.ts";
import { ManualClock } from "../support/manual-clock.ts";

const logger = { debug: () => {} };

describe("the memory reclaimer", () => {
  it("collects once a quiet period follows work, never while work goes on, once per quiet spell", () => {
    const clock = new ManualClock(1000);
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
    expect(clock.pending).toBe(0);
  });

  it("collects the young generation (twice, so survivors are promoted) once a shorter quiet period follows work, once per quiet spell", () => {
    const clock = new ManualClock(1000);
    const calls: unknown[] = [];
    const gc: GcFunction = (o) => void calls.push(o);
    let work = 0;
    const r = startMemoryReclaimer({ clock, quietMs: 1000, youngQuietMs: 100, activity: () => work, logger, gc });
    clock.advance(500);
    expect(calls).toEqual([]); // nothing done yet
    work += 5;
    clock.advance(100); // sees the work
    expect(calls).toEqual([]);
    clock.advance(100); // quiet for a whole period
    expect(calls).toEqual([{ type: "minor" }, { type: "minor" }]);
    expect(r.youngCollections).toBe(1);
    clock.advance(300);
    expect(r.youngCollections).toBe(1); // still the same quiet spell
    clock.advance(1000);
    expect(calls.filter((c) => (c as { type: string }).type === "major")).toHaveLength(1); // the memory-reducing one, later
    for (let i = 0; i < 10; i++) {
      work++;
      clock.advance(100);
    }
    expect(r.youngCollections).toBe(1); // never while work goes on
    clock.advance(100);
    expect(r.youngCollections).toBe(2);
    r.stop();
    work++;
    clock.advance(5000);
    expect(r.youngCollections).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it("does nothing without a gc function (node started without --expose-gc) or with a quiet period of 0", () => {
    for (const options of [{ quietMs: 1000, gc: null }, { quietMs: 0, gc: () => {} }]) {
      const clock = new ManualClock(1000);
      let work = 0;
      const r = startMemoryReclaimer({ clock, activity: () => work++, logger, ...options });
      clock.advance(10_000);
      expect(r.reclaims).toBe(0);
      expect(clock.pending).toBe(0);
    }
  });
});
