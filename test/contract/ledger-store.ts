/**
 * The LedgerStore contract: every adapter (embedded SQLite, Firestore) runs
 * this same suite, unchanged. It uses the port's API only.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { genesisHash, sealReceipt, uuidV7 } from "../../src/ledger/hash.ts";
import type { LedgerId, Receipt, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { ChainConflictError, SeqConflictError, type LedgerStore } from "../../src/ports/index.ts";

export interface StoreUnderTest {
  readonly store: LedgerStore;
  /** A second, independent connection to the same storage (another writer), when the adapter can give one. */
  readonly second?: () => Promise<LedgerStore>;
  cleanup(): Promise<void>;
}

let counter = 0;
const draft = (i: number, reason = "contract receipt"): ReceiptDraft => ({
  operation: "action_refused",
  status: "refused",
  duration_ms: i % 7,
  signal_id: `sig-${i}`,
  action: "noop",
  code: "not_permitted",
  reason: `${reason} ${i}`,
});

/** `n` receipts continuing a ledger from `after` (the last receipt) or from its start; another `reason` makes another chain. */
export function chain(ledger: string, n: number, after?: Receipt, reason?: string): Receipt[] {
  const out: Receipt[] = [];
  let prev = after;
  for (let i = 0; i < n; i++) {
    const seq = prev === undefined ? 0 : prev.seq + 1;
    const r = sealReceipt(draft(seq, reason), {
      ledger,
      seq,
      prevHash: prev?.hash ?? genesisHash(ledger),
      timestamp: new Date(Date.parse("2026-11-24T10:00:00.000Z") + seq).toISOString(),
      receiptId: uuidV7(Date.parse("2026-11-24T10:00:00.000Z") + seq),
      accountId: ledger,
    });
    out.push(r);
    prev = r;
  }
  return out;
}

const L = (s: string) => `${s}-${process.pid}-${counter++}` as LedgerId;

export function describeLedgerStoreContract(name: string, factory: () => Promise<StoreUnderTest>): void {
  describe(`LedgerStore contract: ${name}`, () => {
    let t: StoreUnderTest;
    let store: LedgerStore;
    beforeEach(async () => {
      t = await factory();
      store = t.store;
    });
    afterEach(async () => {
      await t.cleanup();
    });

    it("an unknown ledger is empty, with the genesis hash as its head", async () => {
      const ledger = L("empty");
      expect(await store.head(ledger)).toEqual({ size: 0, lastHash: genesisHash(ledger), lastTimestamp: null });
      expect(await store.read(ledger, 0, 10)).toEqual([]);
      expect(await store.readHashes(ledger)).toEqual([]);
      expect(await store.latestCheckpoint(ledger)).toBeNull();
      expect(await store.getSnapshot(ledger)).toBeNull();
    });

    it("reads back exactly what was appended, in seq order", async () => {
      const ledger = L("roundtrip");
      const receipts = chain(ledger, 25);
      await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 10) });
      await store.append({ ledger, expectedSeq: 10, receipts: receipts.slice(10) });
      expect(await store.read(ledger, 0, 100)).toEqual(receipts);
      const head = await store.head(ledger);
      expect(head).toEqual({ size: 25, lastHash: receipts[24]!.hash, lastTimestamp: receipts[24]!.timestamp });
    });

    it("reads ranges and stops at the end", async () => {
      const ledger = L("ranges");
      const receipts = chain(ledger, 30);
      await store.append({ ledger, expectedSeq: 0, receipts });
      expect(await store.read(ledger, 5, 3)).toEqual(receipts.slice(5, 8));
      expect(await store.read(ledger, 28, 10)).toEqual(receipts.slice(28));
      expect(await store.read(ledger, 30, 10)).toEqual([]);
      expect(await store.readHashes(ledger)).toEqual(receipts.map((r) => r.hash));
      expect(await store.readHashes(ledger, 10, 12)).toEqual([receipts[10]!.hash, receipts[11]!.hash]);
    });

    it("refuses a stale expectedSeq with SeqConflictError and writes nothing of that batch", async () => {
      const ledger = L("stale");
      const receipts = chain(ledger, 6);
      await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 3) });
      const forked = chain(ledger, 3, receipts[1]);
      const err = await store.append({ ledger, expectedSeq: 2, receipts: forked.map((r, i) => ({ ...r, seq: 2 + i })) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SeqConflictError);
      expect(err).toMatchObject({ code: "LEDGER_SEQ_CONFLICT", expectedSeq: 2, actualSize: 3 });
      expect(await store.read(ledger, 0, 10)).toEqual(receipts.slice(0, 3));
    });

    it("refuses a batch that would leave a gap", async () => {
      const ledger = L("gap");
      const receipts = chain(ledger, 6);
      const err = await store.append({ ledger, expectedSeq: 3, receipts: receipts.slice(3) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SeqConflictError);
      expect((await store.head(ledger)).size).toBe(0);
    });

    it("refuses a malformed batch: seqs not contiguous, a receipt of another ledger, or texts that do not match the receipts", async () => {
      const ledger = L("malformed");
      const receipts = chain(ledger, 4);
      await expect(store.append({ ledger, expectedSeq: 0, receipts: [receipts[0]!, receipts[2]!] })).rejects.toMatchObject({ code: "LEDGER_BATCH_INVALID" });
      await expect(store.append({ ledger: L("other"), expectedSeq: 0, receipts: receipts.slice(0, 1) })).rejects.toMatchObject({ code: "LEDGER_BATCH_INVALID" });
      await expect(store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 2), texts: [JSON.stringify(receipts[0])] })).rejects.toMatchObject({ code: "LEDGER_BATCH_INVALID" });
      expect((await store.head(ledger)).size).toBe(0);
    });

    it("refuses a batch whose first prev_hash is not the stored hash before it, or not the genesis hash, and writes nothing of it", async () => {
      const ledger = L("link-first");
      const receipts = chain(ledger, 6);
      // Another writer's chain from seq 3 on: the right size, the wrong predecessor.
      const other = chain(ledger, 3, { ...receipts[2]!, hash: "f".repeat(64) });
      await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 3) });
      const err = await store.append({ ledger, expectedSeq: 3, receipts: other }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChainConflictError);
      // A kind of seq conflict: a writer that knows only those stops writing the ledger.
      expect(err).toBeInstanceOf(SeqConflictError);
      expect(err).toMatchObject({ code: "LEDGER_CHAIN_CONFLICT", ledger, expectedSeq: 3, actualSize: 3 });
      expect(await store.read(ledger, 0, 10)).toEqual(receipts.slice(0, 3));

      const fresh = L("link-genesis");
      const notGenesis = chain(fresh, 2, { ...receipts[0]!, seq: -1 });
      expect(notGenesis[0]!.seq).toBe(0);
      await expect(store.append({ ledger: fresh, expectedSeq: 0, receipts: notGenesis })).rejects.toMatchObject({ code: "LEDGER_CHAIN_CONFLICT", actualSize: 0 });
      expect((await store.head(fresh)).size).toBe(0);
      expect(await store.listLedgers()).not.toContain(fresh);
      // The right chain still goes on from where it is.
      await store.append({ ledger, expectedSeq: 3, receipts: receipts.slice(3) });
      expect(await store.read(ledger, 0, 10)).toEqual(receipts);
    });

    it("refuses a batch whose receipts do not link to one another, alone: the other batches of the call commit", async () => {
      const ledger = L("link-inside");
      const good = L("link-inside-other");
      const receipts = chain(ledger, 5);
      const others = chain(good, 2);
      await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 2) });
      const tampered = receipts.slice(2).map((r, i) => (i === 1 ? { ...r, prev_hash: "0".repeat(64) } : r));
      const outcomes = await store.appendMany([
        { ledger, expectedSeq: 2, receipts: tampered },
        { ledger: good, expectedSeq: 0, receipts: others },
      ]);
      expect(outcomes[0]).toBeInstanceOf(ChainConflictError);
      expect(outcomes[0]).toMatchObject({ code: "LEDGER_CHAIN_CONFLICT", expectedSeq: 2, actualSize: 2 });
      expect(outcomes[1]).toBeNull();
      expect(await store.read(ledger, 0, 10)).toEqual(receipts.slice(0, 2));
      expect(await store.read(good, 0, 10)).toEqual(others);
    });

    it("stores a checkpoint-only batch only over the chain it names", async () => {
      const ledger = L("link-checkpoint");
      const receipts = chain(ledger, 3);
      await store.append({ ledger, expectedSeq: 0, receipts });
      const err = await store.append({ ledger, expectedSeq: 3, receipts: [], prevHash: "e".repeat(64), checkpoint: { size: 3, root: "b3RoZXI=", note: "other\n" } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChainConflictError);
      expect(await store.latestCheckpoint(ledger)).toBeNull();
      await store.append({ ledger, expectedSeq: 3, receipts: [], prevHash: receipts[2]!.hash, checkpoint: { size: 3, root: "cm9vdA==", note: "mine\n" } });
      expect(await store.latestCheckpoint(ledger)).toEqual({ size: 3, root: "cm9vdA==", note: "mine\n" });
    });

    it("of a writer's two commits in flight, refuses the second too when another writer won the first's seqs (it does not link)", async () => {
      const other = t.second === undefined ? store : await t.second();
      try {
        // In flight together (sent before either answered), and the second sent after the first was refused.
        for (const together of [true, false]) {
          const ledger = L(together ? "in-flight" : "in-flight-after");
          const mine = chain(ledger, 16);
          await store.append({ ledger, expectedSeq: 0, receipts: mine.slice(0, 10) });
          // The other writer appends 10-12 first, from the same head.
          const theirs = chain(ledger, 3, mine[9], "the other writer");
          await other.append({ ledger, expectedSeq: 10, receipts: theirs });
          // This writer had 10-12 and 13-15 under way at once: 13 is the size now, but 13 does not link to the stored 12.
          const first = store.appendMany([{ ledger, expectedSeq: 10, receipts: mine.slice(10, 13) }]);
          if (!together) await first;
          const second = store.appendMany([{ ledger, expectedSeq: 13, receipts: mine.slice(13, 16) }]);
          const [[a], [b]] = await Promise.all([first, second]);
          expect(a).toBeInstanceOf(SeqConflictError);
          expect(a).toMatchObject({ code: "LEDGER_SEQ_CONFLICT", expectedSeq: 10, actualSize: 13 });
          expect(b).toBeInstanceOf(ChainConflictError);
          expect(b).toMatchObject({ code: "LEDGER_CHAIN_CONFLICT", expectedSeq: 13, actualSize: 13 });
          const stored = await store.read(ledger, 0, 100);
          expect(stored).toEqual([...mine.slice(0, 10), ...theirs]);
        }
      } finally {
        if (other !== store) await other.close();
      }
    });

    it("lets exactly one of two concurrent writers win the same seq", async () => {
      const ledger = L("race");
      const a = chain(ledger, 3);
      const b = a.map((r) => ({ ...r, reason: "the other writer" }) as Receipt);
      const results = await Promise.allSettled([store.append({ ledger, expectedSeq: 0, receipts: a }), store.append({ ledger, expectedSeq: 0, receipts: b })]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(SeqConflictError);
      const stored = await store.read(ledger, 0, 10);
      expect(stored).toHaveLength(3);
      expect([a, b]).toContainEqual(stored);
    });

    it("lets exactly one of two independent connections win the same seq", async (ctx) => {
      if (t.second === undefined) {
        ctx.skip("this adapter has no second connection to the same storage");
        return;
      }
      const other = await t.second();
      try {
        const ledger = L("two-writers");
        const a = chain(ledger, 2);
        const b = a.map((r) => ({ ...r, reason: "second connection" }) as Receipt);
        const results = await Promise.allSettled([store.append({ ledger, expectedSeq: 0, receipts: a }), other.append({ ledger, expectedSeq: 0, receipts: b })]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).toBeInstanceOf(SeqConflictError);
        expect(await store.read(ledger, 0, 10)).toHaveLength(2);
      } finally {
        await other.close();
      }
    });

    it("commits the good batches of appendMany and leaves out only the conflicting one", async () => {
      const l1 = L("many-a");
      const l2 = L("many-b");
      const l3 = L("many-c");
      const r1 = chain(l1, 2);
      const r2 = chain(l2, 4);
      const r3 = chain(l3, 1);
      await store.append({ ledger: l2, expectedSeq: 0, receipts: r2.slice(0, 2) });
      const outcomes = await store.appendMany([
        { ledger: l1, expectedSeq: 0, receipts: r1 },
        { ledger: l2, expectedSeq: 0, receipts: r2.slice(0, 2) },
        { ledger: l3, expectedSeq: 0, receipts: r3 },
      ]);
      expect(outcomes[0]).toBeNull();
      expect(outcomes[1]).toBeInstanceOf(SeqConflictError);
      expect(outcomes[2]).toBeNull();
      expect(await store.read(l1, 0, 10)).toEqual(r1);
      expect(await store.read(l2, 0, 10)).toEqual(r2.slice(0, 2));
      expect(await store.read(l3, 0, 10)).toEqual(r3);
    });

    it("answers appendMany calls made at once (queued behind one another) each with its own outcomes", async () => {
      const a = L("queued-a");
      const b = L("queued-b");
      const c = L("queued-c");
      const ra = chain(a, 20);
      const rb = chain(b, 20);
      const rc = chain(c, 1);
      const calls: Promise<readonly (SeqConflictError | null)[]>[] = [];
      for (let i = 0; i < 20; i++) {
        calls.push(store.appendMany([{ ledger: a, expectedSeq: i, receipts: [ra[i]!] }, { ledger: b, expectedSeq: i, receipts: [rb[i]!] }]));
      }
      // Stale for a (it has 20 by then), good for c: only c's batch of this call commits.
      calls.push(store.appendMany([{ ledger: a, expectedSeq: 0, receipts: [ra[0]!] }, { ledger: c, expectedSeq: 0, receipts: rc }]));
      const outcomes = await Promise.all(calls);
      for (const o of outcomes.slice(0, 20)) expect(o).toEqual([null, null]);
      const last = outcomes[20]!;
      expect(last[0]).toBeInstanceOf(SeqConflictError);
      expect(last[0]).toMatchObject({ expectedSeq: 0, actualSize: 20 });
      expect(last[1]).toBeNull();
      expect(await store.read(a, 0, 50)).toEqual(ra);
      expect(await store.read(b, 0, 50)).toEqual(rb);
      expect(await store.read(c, 0, 50)).toEqual(rc);
    });

    it("stores a checkpoint with its batch, and a checkpoint-only batch, and returns the latest", async () => {
      const ledger = L("checkpoint");
      const receipts = chain(ledger, 5);
      await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 3), checkpoint: { size: 3, root: "cm9vdDM=", note: "note 3\n" } });
      expect(await store.latestCheckpoint(ledger)).toEqual({ size: 3, root: "cm9vdDM=", note: "note 3\n" });
      await store.append({ ledger, expectedSeq: 3, receipts: receipts.slice(3) });
      expect((await store.latestCheckpoint(ledger))?.size).toBe(3);
      await store.append({ ledger, expectedSeq: 5, receipts: [], checkpoint: { size: 5, root: "cm9vdDU=", note: "note 5\n" } });
      expect(await store.latestCheckpoint(ledger)).toEqual({ size: 5, root: "cm9vdDU=", note: "note 5\n" });
    });

    it("refuses a checkpoint that does not cover exactly the ledger after its batch", async () => {
      const ledger = L("checkpoint-bad");
      const receipts = chain(ledger, 2);
      await expect(store.append({ ledger, expectedSeq: 0, receipts, checkpoint: { size: 5, root: "eA==", note: "x\n" } })).rejects.toMatchObject({ code: "LEDGER_BATCH_INVALID" });
      expect((await store.head(ledger)).size).toBe(0);
    });

    it("keeps snapshots per ledger, the last one put", async () => {
      const ledger = L("snapshot");
      await store.putSnapshot(ledger, { seq: 10, lastHash: "a".repeat(64), version: "v1", state: { n: 1, list: [1, 2] } });
      await store.putSnapshot(ledger, { seq: 20, lastHash: "b".repeat(64), version: "v1", state: { n: 2 } });
      expect(await store.getSnapshot(ledger)).toEqual({ seq: 20, lastHash: "b".repeat(64), version: "v1", state: { n: 2 } });
    });

    it("lists every ledger that has receipts, interleaved appends included", async () => {
      const ledgers = [L("list-a"), L("list-b"), L("list-c")];
      const chains = ledgers.map((l) => chain(l, 6));
      for (let i = 0; i < 6; i += 2) {
        await store.appendMany(ledgers.map((l, j) => ({ ledger: l, expectedSeq: i, receipts: chains[j]!.slice(i, i + 2) })));
      }
      const listed = await store.listLedgers();
      for (const [j, l] of ledgers.entries()) {
        expect(listed).toContain(l);
        expect(await store.read(l, 0, 10)).toEqual(chains[j]);
      }
    });

    it("answers a health probe within its deadline", async () => {
      await expect(store.probe(2000)).resolves.toBeUndefined();
    });
  });
}
