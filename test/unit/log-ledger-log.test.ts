/**
 * The ledger log, every stage together, against a store that fails and
 * recovers (an in-memory store: this tests the log alone; the real stores
 * have their own suites).
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { generateSignerKey } from "../../src/ledger/checkpoint.ts";
import { createUuidV7Source, genesisHash, receiptHash } from "../../src/ledger/hash.ts";
import type { LedgerId, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { createMemoryLedgerStore } from "../../src/adapters/memory/memory-ledger-store.ts";
import { LedgerLog } from "../../src/log/ledger-log.ts";
import { ChainConflictError, SeqConflictError, StoreUnavailableError, systemClock, type AppendBatch, type LedgerStore } from "../../src/ports/index.ts";
import { ManualClock } from "../support/manual-clock.ts";

/** Lets the event loop turn until `check` holds (bounded by the test's timeout). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

/**
 * Moves the manual clock on by `ms`, 10 ms at a time; after each step, lets
 * the log act on the timers that fired, until it waits on a timer again (a
 * retry after the store failed) or `done` holds.
 */
async function elapse(clock: ManualClock, ms: number, done: () => boolean): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.advance(10);
    await until(() => clock.pending > 0 || done());
  }
}

const draft = (i: number): ReceiptDraft => ({ operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `s${i}`, action: "noop", code: "not_permitted", reason: "test" });

describe("LedgerLog", () => {
  it("keeps receipts queued while the store fails, acknowledges nothing, and commits them in order once it is back", async () => {
    const store = createMemoryLedgerStore();
    const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
    const writer = new LedgerLog({ store, signers: [generateSignerKey("t")], originPrefix: "t", clock, newId: createUuidV7Source(() => clock.now()), logger: pino({ level: "silent" }), checkpointIntervalMs: 0 });
    const ledger = "acct" as LedgerId;
    writer.open(ledger);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      store.failing = true;
      for (let i = 0; i < 5; i++) writer.seal(ledger, draft(i));
      let acknowledged = false;
      writer.afterDurable(ledger, () => (acknowledged = true));
      await until(() => clock.pending > 0);
      await elapse(clock, 300, () => acknowledged);
      expect(acknowledged).toBe(false);
      expect(writer.durableSize(ledger)).toBe(0);
      expect(store.appendCalls).toBeLessThan(10); // retried with a growing delay, not in a tight loop

      for (let i = 5; i < 8; i++) writer.seal(ledger, draft(i));
      store.failing = false;
      await elapse(clock, 1500, () => acknowledged);
      expect(acknowledged).toBe(true);
      const receipts = store.ledgers.get(ledger)!;
      expect(receipts.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      let prev = genesisHash(ledger);
      for (const r of receipts) {
        expect(r.prev_hash).toBe(prev);
        expect(receiptHash(r)).toBe(r.hash);
        prev = r.hash;
      }
      expect(store.checkpoints.get(ledger)?.at(-1)?.size).toBe(8);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await writer.close();
    }
  });
});

describe("LedgerLog and a store with a batch limit", () => {
  it("splits a ledger's receipts over commits in order, each batch within the limit, and checkpoints only what was sealed", async () => {
    const base = createMemoryLedgerStore();
    const sizes: number[] = [];
    const store = Object.assign(Object.create(base) as typeof base, {
      maxBatchReceipts: 3,
      appendMany: async (batches: Parameters<typeof base.appendMany>[0]) => {
        for (const b of batches) {
          expect(b.receipts.length).toBeLessThanOrEqual(3);
          sizes.push(b.receipts.length);
        }
        return base.appendMany(batches);
      },
    });
    const writer = new LedgerLog({ store, signers: [generateSignerKey("t")], originPrefix: "t", clock: systemClock, newId: createUuidV7Source(Date.now), logger: pino({ level: "silent" }), checkpointIntervalMs: 0 });
    const ledger = "split" as LedgerId;
    writer.open(ledger);
    for (let i = 0; i < 10; i++) writer.seal(ledger, draft(i));
    await writer.flush();
    expect(writer.durableSize(ledger)).toBe(10);
    expect(base.ledgers.get(ledger)!.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sizes.filter((n) => n > 0)).toEqual([3, 3, 3, 1]);
    // A checkpoint always covers the whole sealed ledger: none for the partial batches.
    expect(base.checkpoints.get(ledger)!.map((c) => c.size)).toEqual([10]);
  });
});

describe("LedgerLog's durable callbacks", () => {
  it("runs them in the order their receipts became durable, lets the event loop turn between slices, and logs one that throws without losing the rest", async () => {
    const store = createMemoryLedgerStore();
    const logged: unknown[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const writer = new LedgerLog({ store, signers: [generateSignerKey("t")], originPrefix: "t", clock: systemClock, newId: createUuidV7Source(Date.now), logger, checkpointIntervalMs: 0 });
    const a = "acct-a" as LedgerId;
    const b = "acct-b" as LedgerId;
    writer.open(a);
    writer.open(b);
    const order: string[] = [];
    const n = 5000;
    try {
      for (let i = 0; i < n; i++) {
        const ledger = i % 2 === 0 ? a : b;
        writer.seal(ledger, draft(i));
        writer.afterDurable(ledger, () => {
          // Work enough that the callbacks of one commit take more than one slice.
          const until = performance.now() + 0.01;
          while (performance.now() < until);
          order.push(`${ledger}:${i}`);
          // A timer set by the first callback runs between two slices, not after the last callback.
          if (i === 0) setTimeout(() => order.push("timer"), 0);
          if (i === 7) throw new Error("callback 7 failed");
        });
      }
      await writer.durable(a);
      await writer.durable(b);
      await until(() => order.length === n + 1);
      expect(order.filter((o) => o.startsWith("acct-a:"))).toEqual(Array.from({ length: n / 2 }, (_, k) => `acct-a:${2 * k}`));
      expect(order.filter((o) => o.startsWith("acct-b:"))).toEqual(Array.from({ length: n / 2 }, (_, k) => `acct-b:${2 * k + 1}`));
      const timer = order.indexOf("timer");
      expect(timer).toBeGreaterThan(0);
      expect(timer).toBeLessThan(n);
      expect(logged).toEqual([expect.objectContaining({ msg: "an effect run after its receipts became durable threw", err: expect.objectContaining({ message: "callback 7 failed" }) })]);
      // A callback registered once everything is durable still runs.
      let late = false;
      writer.afterDurable(a, () => (late = true));
      await new Promise((r) => setImmediate(r));
      expect(late).toBe(true);
    } finally {
      await writer.close();
    }
  });
});

/** A store whose commits answer when the test says so: what the writer does with two commits of one ledger in flight. */
function scriptedStore() {
  const calls: { batches: readonly AppendBatch[]; answer: (o: readonly (SeqConflictError | null)[]) => void; fail: (e: Error) => void }[] = [];
  const unused = () => Promise.reject(new Error("not used by the writer"));
  const store: LedgerStore = {
    commitsInFlight: 2,
    append: unused,
    appendMany: (batches) => new Promise((answer, fail) => void calls.push({ batches, answer, fail })),
    read: unused,
    readHashes: unused,
    head: unused,
    latestCheckpoint: unused,
    listLedgers: unused,
    putSnapshot: unused,
    getSnapshot: unused,
    probe: unused,
    close: async () => {},
  };
  return { store, calls };
}


describe("LedgerLog with two commits of one ledger in flight", () => {
  const setup = (checkpointIntervalMs = 0) => {
    const { store, calls } = scriptedStore();
    const fenced: { ledger: string; err: SeqConflictError }[] = [];
    const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
    const writer = new LedgerLog({ store, signers: [generateSignerKey("t")], originPrefix: "t", clock, newId: createUuidV7Source(() => clock.now()), logger: pino({ level: "silent" }), checkpointIntervalMs, onFenced: (ledger, err) => void fenced.push({ ledger, err }) });
    const ledger = "inflight" as LedgerId;
    writer.open(ledger);
    return { store, calls, fenced, clock, writer, ledger };
  };
  /** Seals 3 receipts, lets their commit start, then 3 more: two commits under way, the second linking to the first. */
  const twoInFlight = async (t: ReturnType<typeof setup>) => {
    const failures: Error[] = [];
    for (let i = 0; i < 3; i++) t.writer.seal(t.ledger, draft(i));
    t.writer.afterDurable(t.ledger, () => {}, (e) => void failures.push(e));
    await until(() => t.calls.length === 1);
    for (let i = 3; i < 6; i++) t.writer.seal(t.ledger, draft(i));
    t.writer.afterDurable(t.ledger, () => {}, (e) => void failures.push(e));
    await until(() => t.calls.length === 2);
    const [n, next] = [t.calls[0]!, t.calls[1]!];
    expect(n.batches[0]).toMatchObject({ expectedSeq: 0 });
    expect(next.batches[0]).toMatchObject({ expectedSeq: 3 });
    expect(next.batches[0]!.receipts[0]!.prev_hash).toBe(n.batches[0]!.receipts[2]!.hash);
    return { n, next, failures };
  };

  for (const order of ["in order", "the second answered first"] as const) {
    it(`when the first is refused (another writer won), drops the second, retries neither, and hands the ledger over once (${order})`, async () => {
      const t = setup();
      const { n, next, failures } = await twoInFlight(t);
      const first = () => n.answer([new SeqConflictError(t.ledger, 0, 3)]);
      const second = () => next.answer([new ChainConflictError(t.ledger, 3, 3, "does not link (test)")]);
      if (order === "in order") {
        first();
        await until(() => t.fenced.length > 0);
        second();
      } else {
        second();
        await until(() => t.fenced.length > 0);
        first();
      }
      await t.writer.flush();
      t.clock.advance(60_000);
      await t.writer.flush();
      expect(t.fenced).toHaveLength(1);
      expect(t.fenced[0]!.ledger).toBe(t.ledger);
      expect(t.fenced[0]!.err).toBeInstanceOf(SeqConflictError);
      expect(t.calls).toHaveLength(2);
      expect(t.writer.durableSize(t.ledger)).toBe(0);
      expect(failures).toHaveLength(2);
      expect(() => t.writer.seal(t.ledger, draft(9))).toThrow(SeqConflictError);
    });
  }

  it("when the first fails because the store did (the second then finds a gap), sends both again, in order, on the chain it still holds", async () => {
    const t = setup();
    const { n, next, failures } = await twoInFlight(t);
    n.fail(new StoreUnavailableError("store down (test)"));
    next.answer([new SeqConflictError(t.ledger, 3, 0)]);
    await until(() => t.clock.pending > 0);
    t.clock.advance(10_000);
    await until(() => t.calls.length === 3);
    const retry = t.calls[2]!;
    expect(retry.batches).toHaveLength(1);
    expect(retry.batches[0]!.expectedSeq).toBe(0);
    expect(retry.batches[0]!.receipts.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(retry.batches[0]!.receipts.map((r) => r.hash)).toEqual([...n.batches[0]!.receipts, ...next.batches[0]!.receipts].map((r) => r.hash));
    retry.answer([null]);
    await t.writer.durable(t.ledger);
    expect(t.writer.durableSize(t.ledger)).toBe(6);
    expect(t.fenced).toEqual([]);
    expect(failures).toEqual([]);
  });

  it("names the chain a checkpoint-only batch covers, so that it is never stored over another writer's", async () => {
    // The second commit comes within the checkpoint interval: it has none, and checkpointNow sends one alone.
    const t = setup(60_000);
    const { n, next } = await twoInFlight(t);
    n.answer([null]);
    next.answer([null]);
    await t.writer.durable(t.ledger);
    const sealed = next.batches[0]!.receipts.at(-1)!;
    const closing = t.writer.checkpointNow(t.ledger);
    await until(() => t.calls.length === 3);
    const cp = t.calls[2]!.batches[0]!;
    expect(cp).toMatchObject({ ledger: t.ledger, expectedSeq: 6, receipts: [], prevHash: sealed.hash, checkpoint: { size: 6 } });
    t.calls[2]!.answer([null]);
    await closing;
  });
});
