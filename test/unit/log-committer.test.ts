/** The committer alone: one group commit, and what it does with each answer the store can give. */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryLedgerStore } from "../../src/adapters/memory/memory-ledger-store.ts";
import { generateSignerKey } from "../../src/ledger/checkpoint.ts";
import { createUuidV7Source } from "../../src/ledger/hash.ts";
import type { LedgerId, Receipt, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { Checkpointer } from "../../src/log/checkpointer.ts";
import { CommitQueue } from "../../src/log/commit-queue.ts";
import { Committer } from "../../src/log/committer.ts";
import { Durability } from "../../src/log/durability.ts";
import { Sequencer, type LedgerTail } from "../../src/log/sequencer.ts";
import { ChainConflictError, SeqConflictError, StoreUnavailableError, type AppendBatch, type LedgerStore } from "../../src/ports/index.ts";
import { chain } from "../contract/ledger-store.ts";
import { ManualClock } from "../support/manual-clock.ts";

const draft = (i: number): ReceiptDraft => ({ operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `s${i}`, action: "noop", code: "not_permitted", reason: "test" });

/**
 * `answer`: what the store says to each batch instead of storing it;
 * `scripted`: each appendMany answers when the test says so (in `calls`); a memory store otherwise.
 */
function setup(o: { answer?: (b: AppendBatch) => SeqConflictError | null; scripted?: boolean; intervalMs?: number } = {}) {
  const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
  const memory = createMemoryLedgerStore();
  const sent: AppendBatch[][] = [];
  const calls: { batches: readonly AppendBatch[]; answer: (o: readonly (SeqConflictError | null)[]) => void }[] = [];
  const store: LedgerStore = Object.assign(Object.create(memory) as LedgerStore, {
    appendMany: (batches: readonly AppendBatch[]) => {
      sent.push([...batches]);
      const answer = o.answer;
      if (o.scripted) return new Promise((resolve) => void calls.push({ batches, answer: resolve }));
      return answer ? Promise.resolve(batches.map((b) => answer(b))) : memory.appendMany(batches);
    },
  });
  const sequencer = new Sequencer(clock, createUuidV7Source(() => clock.now()));
  const queue = new CommitQueue();
  const checkpointer = new Checkpointer({ signers: [generateSignerKey("t")], originPrefix: "t", clock, intervalMs: o.intervalMs ?? 0, onDue: () => {} }, sequencer, queue);
  const durability = new Durability(pino({ level: "silent" }));
  const fenced: [string, SeqConflictError][] = [];
  const storeErrors: Error[] = [];
  const committed: Receipt[][] = [];
  const committer = new Committer(
    { store, logger: pino({ level: "silent" }), onFenced: (l, e) => void fenced.push([l, e]), onStoreError: (e) => void storeErrors.push(e), onCommitted: (r) => void committed.push([...r]) },
    queue,
    sequencer,
    checkpointer,
    durability,
  );
  const failures: Error[] = [];
  const seal = (ledger: string, n: number): LedgerTail => {
    if (!sequencer.has(ledger)) sequencer.open(ledger as LedgerId);
    const tail = sequencer.tail(ledger);
    for (let i = 0; i < n; i++) {
      sequencer.seal(tail, draft(i));
      queue.sealed(tail);
    }
    durability.after(tail, () => {}, (e) => void failures.push(e));
    return tail;
  };
  return { clock, memory, sent, calls, sequencer, queue, checkpointer, committer, fenced, storeErrors, committed, failures, seal };
}

describe("the committer", () => {
  it("sends every waiting ledger in one appendMany, each with its checkpoint, and makes it durable", async () => {
    const t = setup();
    const a = t.seal("acct-a", 3);
    const b = t.seal("acct-b", 2);
    await t.committer.commit();
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0]!.map((x) => [x.ledger, x.expectedSeq, x.receipts.length, x.checkpoint?.size])).toEqual([["acct-a", 0, 3, 3], ["acct-b", 0, 2, 2]]);
    expect(t.memory.ledgers.get("acct-a")!.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect([a.durable, a.checkpointed, b.durable, b.checkpointed]).toEqual([3, 3, 2, 2]);
    expect(t.committed.map((r) => r.length)).toEqual([3, 2]);
    expect(t.queue.isEmpty).toBe(true);
  });

  it("puts every receipt back, in order, when the store fails, tells onStoreError, and sends them again on the chain it holds", async () => {
    const t = setup();
    const a = t.seal("acct-a", 3);
    t.memory.failing = true;
    await expect(t.committer.commit()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(t.storeErrors).toHaveLength(1);
    expect(a.pending.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect([a.submitted, a.durable]).toEqual([0, 0]);
    expect(t.queue.broken).toBe(true);
    t.memory.failing = false;
    await t.committer.commit();
    expect(a.durable).toBe(3);
    expect(t.sent[1]![0]!.receipts.map((r) => r.hash)).toEqual(t.sent[0]![0]!.receipts.map((r) => r.hash));
  });

  it("puts back a batch that found a gap (an earlier commit did not land), without fencing", async () => {
    const t = setup({ answer: (b) => new SeqConflictError(b.ledger, b.expectedSeq, b.expectedSeq - 1) });
    const a = t.seal("acct-a", 2);
    a.submitted = a.durable = 1;
    a.pending.shift();
    a.pendingTexts.shift();
    await t.committer.commit();
    expect(a.pending.map((r) => r.seq)).toEqual([1]);
    expect(a.fenced).toBeNull();
    expect(t.fenced).toEqual([]);
    expect(t.queue.broken).toBe(true);
  });

  it("fences a ledger another writer appended to: its callbacks fail, onFenced is told once, nothing more is sent for it", async () => {
    const t = setup();
    await t.memory.append({ ledger: "acct-a" as LedgerId, expectedSeq: 0, receipts: chain("acct-a", 2) });
    const a = t.seal("acct-a", 3);
    const b = t.seal("acct-b", 1);
    await t.committer.commit();
    expect(a.fenced).toBeInstanceOf(SeqConflictError);
    expect(t.fenced.map(([l]) => l)).toEqual(["acct-a"]);
    expect(t.failures).toEqual([a.fenced]);
    expect(b.durable).toBe(1);
    t.seal("acct-a", 0);
    t.queue.mark(a);
    await t.committer.commit();
    expect(t.sent).toHaveLength(1);
    expect(t.fenced).toHaveLength(1);
  });

  it("drops a refused commit of a ledger fenced meanwhile (a second commit in flight), and tells nothing of a released tail", async () => {
    const t = setup({ scripted: true });
    t.seal("acct-a", 3);
    const first = t.committer.commit();
    const a = t.seal("acct-a", 3);
    const second = t.committer.commit();
    expect(t.calls.map((c) => c.batches[0]!.expectedSeq)).toEqual([0, 3]);
    t.calls[0]!.answer([new SeqConflictError("acct-a", 0, 5)]);
    await first;
    t.calls[1]!.answer([new ChainConflictError("acct-a", 3, 5, "test")]);
    await second;
    expect(a.fenced).toBeInstanceOf(SeqConflictError);
    expect(t.fenced.map(([l]) => l)).toEqual(["acct-a"]);
    expect(a.pending).toEqual([]);
    expect(t.queue.broken).toBe(false);
    expect(t.failures).toHaveLength(2);

    const c = t.seal("acct-c", 1);
    const third = t.committer.commit();
    t.sequencer.release("acct-c");
    t.calls[2]!.answer([new ChainConflictError("acct-c", 0, 0, "test")]);
    await third;
    expect(c.fenced).toBeInstanceOf(ChainConflictError);
    expect(t.fenced.map(([l]) => l)).toEqual(["acct-a"]);
  });

  it("sends a checkpoint-only batch naming the chain it covers, once the interval lets it", async () => {
    const t = setup({ intervalMs: 60_000 });
    const a = t.seal("acct-a", 2);
    await t.committer.commit();
    t.clock.advance(1);
    t.seal("acct-a", 1);
    await t.committer.commit();
    expect(t.sent[1]![0]!.checkpoint).toBeUndefined();
    t.checkpointer.request(a);
    await t.committer.commit();
    expect(t.sent[2]![0]).toMatchObject({ ledger: "acct-a", expectedSeq: 3, receipts: [], prevHash: a.lastHash, checkpoint: { size: 3 } });
    expect(a.checkpointed).toBe(3);
  });
});
