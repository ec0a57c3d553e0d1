import { describe, expect, it } from "vitest";
import { DeadlineQueue } from "../../src/app/deadline-queue.ts";
import { ManualClock } from "../support/manual-clock.ts";

describe("DeadlineQueue", () => {
  it("fires deadlines in time order, each once, on one timer", () => {
    const clock = new ManualClock(1000);
    const q = new DeadlineQueue(clock);
    const fired: string[] = [];
    q.add(1500, () => fired.push("c"));
    q.add(1100, () => fired.push("a"));
    q.add(1300, () => fired.push("b"));
    expect(clock.pending).toBe(1);
    clock.advance(200);
    expect(fired).toEqual(["a"]);
    clock.advance(1000);
    expect(fired).toEqual(["a", "b", "c"]);
    expect(q.pending).toBe(0);
  });

  it("never fires a cancelled deadline", () => {
    const clock = new ManualClock(1000);
    const q = new DeadlineQueue(clock);
    const fired: number[] = [];
    const d = q.add(1100, () => fired.push(1));
    q.add(1200, () => fired.push(2));
    q.cancel(d);
    clock.advance(500);
    expect(fired).toEqual([2]);
  });

  it("waits out a timer that fires early and passes the time it fired", () => {
    const clock = new ManualClock(1000, { early: 5 });
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
    const clock = new ManualClock(1000);
    const q = new DeadlineQueue(clock);
    const fired: number[] = [];
    q.add(1100, () => fired.push(1));
    q.stop();
    clock.advance(500);
    expect(fired).toEqual([]);
  });
});
