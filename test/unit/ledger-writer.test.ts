/**
 * The ledger writer against a store that fails and recovers (an in-memory
 * store: this tests the writer alone; the real stores have their own suites).
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { generateSignerKey } from "../../src/ledger/checkpoint.ts";
import { createUuidV7Source, genesisHash, receiptHash } from "../../src/ledger/hash.ts";
import type { LedgerId, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { systemClock } from "../../src/ports.ts";
import { LedgerWriter } from "../../src/runtime/ledger-writer.ts";
import { createMemoryLedgerStore } from "../support/memory-ledger-store.ts";

const draft = (i: number): ReceiptDraft => ({ operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `s${i}`, action: "noop", code: "not_permitted", reason: "test" });

describe("LedgerWriter", () => {
  it("keeps receipts queued while the store fails, acknowledges nothing, and commits them in order once it is back", async () => {
    const store = createMemoryLedgerStore();
    const writer = new LedgerWriter({ store, signers: [generateSignerKey("t")], originPrefix: "t", clock: systemClock, newId: createUuidV7Source(Date.now), logger: pino({ level: "silent" }), checkpointIntervalMs: 0 });
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
      await new Promise((r) => setTimeout(r, 300));
      expect(acknowledged).toBe(false);
      expect(writer.durableSize(ledger)).toBe(0);
      expect(store.appendCalls).toBeLessThan(10); // retried with a growing delay, not in a tight loop

      for (let i = 5; i < 8; i++) writer.seal(ledger, draft(i));
      store.failing = false;
      await new Promise((r) => setTimeout(r, 1500));
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

describe("LedgerWriter and a store with a batch limit", () => {
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
    const writer = new LedgerWriter({ store, signers: [generateSignerKey("t")], originPrefix: "t", clock: systemClock, newId: createUuidV7Source(Date.now), logger: pino({ level: "silent" }), checkpointIntervalMs: 0 });
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

describe("LedgerWriter's durable callbacks", () => {
  it("runs them in the order their receipts became durable, lets the event loop turn between slices, and logs one that throws without losing the rest", async () => {
    const store = createMemoryLedgerStore();
    const logged: unknown[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const writer = new LedgerWriter({ store, signers: [generateSignerKey("t")], originPrefix: "t", clock: systemClock, newId: createUuidV7Source(Date.now), logger, checkpointIntervalMs: 0 });
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
      await new Promise<void>((resolve) => {
        const poll = () => (order.length === n + 1 ? resolve() : setTimeout(poll, 5));
        poll();
      });
      expect(order.filter((o) => o.startsWith("acct-a:"))).toEqual(Array.from({ length: n / 2 }, (_, k) => `acct-a:${2 * k}`));
      expect(order.filter((o) => o.startsWith("acct-b:"))).toEqual(Array.from({ length: n / 2 }, (_, k) => `acct-b:${2 * k + 1}`));
      const timer = order.indexOf("timer");
      expect(timer).toBeGreaterThan(0);
      expect(timer).toBeLessThan(n);
      expect(logged).toEqual([expect.objectContaining({ msg: "an effect run after its receipts became durable threw", err: expect.objectContaining({ message: "callback 7 failed" }) })]);
      // A callback registered once everything is durable still runs.
      let late = false;
      writer.afterDurable(a, () => (late = true));
      await new Promise((r) => setTimeout(r, 0));
      expect(late).toBe(true);
    } finally {
      await writer.close();
    }
  });
});
