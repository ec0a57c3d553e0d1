/** The commit scheduler alone (the committer and the spool switch stubbed): when commits start, how many at once, and the retries. */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { CommitQueue } from "../../src/log/commit-queue.ts";
import { CommitScheduler } from "../../src/log/commit-scheduler.ts";
import type { Committer } from "../../src/log/committer.ts";
import { Sequencer } from "../../src/log/sequencer.ts";
import type { SpoolSwitch } from "../../src/log/spool-switch.ts";
import { StoreUnavailableError, type LedgerStore } from "../../src/ports/index.ts";
import { ManualClock } from "../support/manual-clock.ts";

/** Lets the event loop turn until `check` holds (bounded by the test's timeout). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}
const turn = () => new Promise((r) => setImmediate(r));

interface Call {
  readonly ok: () => void;
  readonly fail: () => void;
}

function setup(o: { maxInFlight?: number; spool?: (queue: CommitQueue) => Partial<SpoolSwitch> } = {}) {
  const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
  const queue = new CommitQueue();
  const calls: Call[] = [];
  // Takes what waits; on failure puts it back as the committer does (which holds new commits until those under way answer).
  const committer = {
    commit: () => {
      const tails = [...queue.take()];
      return new Promise<void>((ok, reject) =>
        void calls.push({
          ok,
          fail: () => {
            for (const tail of tails) queue.requeue({ tail, receipts: [], texts: [], checkpointSize: 0 });
            reject(new StoreUnavailableError("down (test)"));
          },
        }),
      );
    },
  } as unknown as Committer;
  const store = { commitsInFlight: 3 } as LedgerStore;
  const scheduler = new CommitScheduler({ store, clock, logger: pino({ level: "silent" }), ...(o.maxInFlight ? { maxInFlight: o.maxInFlight } : {}) }, queue, committer, o.spool?.(queue) as SpoolSwitch | undefined);
  const sequencer = new Sequencer(clock, () => "unused");
  sequencer.open("acct-a" as LedgerId);
  const tail = sequencer.tail("acct-a");
  const seal = (n = 1) => {
    for (let i = 0; i < n; i++) scheduler.sealed(tail);
  };
  return { clock, queue, calls, scheduler, seal };
}

describe("the commit scheduler", () => {
  it("joins everything sealed in one turn into one commit, started when the turn ends", async () => {
    const t = setup();
    t.seal(3);
    expect(t.calls).toHaveLength(0);
    await until(() => t.calls.length === 1);
    await turn();
    expect(t.calls).toHaveLength(1);
  });

  it("starts a commit before the turn ends once a turn has sealed 512 receipts", () => {
    const t = setup();
    t.seal(511);
    expect(t.calls).toHaveLength(0);
    t.seal(1);
    expect(t.calls).toHaveLength(1);
  });

  it("keeps at most maxInFlight commits under way (the store's commitsInFlight by default)", async () => {
    for (const [maxInFlight, expected] of [[2, 2], [undefined, 3]] as const) {
      const t = setup({ maxInFlight });
      for (let i = 0; i < 4; i++) {
        t.seal();
        await turn();
        await turn();
      }
      expect(t.calls).toHaveLength(expected);
      t.calls[0]!.ok();
      await until(() => t.calls.length === expected + 1);
    }
  });

  it("retries a failed commit after 50 ms, doubling while it fails, and from 50 ms again after a success", async () => {
    const t = setup();
    const delays: number[] = [];
    const failAndMeasure = async () => {
      const n = t.calls.length;
      t.calls[n - 1]!.fail();
      await until(() => t.clock.pending > 0);
      let waited = 0;
      while (t.calls.length === n) {
        t.clock.advance(10);
        waited += 10;
        await turn();
        await turn();
      }
      delays.push(waited);
    };
    t.seal();
    await until(() => t.calls.length === 1);
    await failAndMeasure();
    await failAndMeasure();
    await failAndMeasure();
    t.calls.at(-1)!.ok();
    await turn();
    t.seal();
    await until(() => t.calls.length === 5);
    await failAndMeasure();
    expect(delays).toEqual([50, 100, 200, 50]);
  });

  it("neither retries nor commits early once closed", async () => {
    const t = setup();
    t.seal();
    await until(() => t.calls.length === 1);
    t.scheduler.close();
    expect(t.scheduler.closed).toBe(true);
    t.calls[0]!.fail();
    await turn();
    await turn();
    expect(t.clock.pending).toBe(0);
  });

  it("with the spool switched on, lets the commits under way end, then sends what waits to the spool instead", async () => {
    let spooled = 0;
    const spool: Partial<SpoolSwitch> = { on: false, draining: false, serial: (commit) => commit() };
    const t = setup({ spool: (queue) => Object.assign(spool, { commit: async () => void (spooled += queue.take().size) }) });
    t.seal();
    await until(() => t.calls.length === 1);
    Object.assign(spool, { on: true });
    t.seal();
    const flushed = t.scheduler.flush();
    await turn();
    expect(spooled).toBe(0);
    t.calls[0]!.ok();
    await flushed;
    expect(spooled).toBe(1);
    expect(t.calls).toHaveLength(1);
  });
});
