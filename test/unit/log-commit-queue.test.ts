/** The commit queue alone: what waits for a commit, and receipts put back in seq order. */
import { describe, expect, it } from "vitest";
import { createUuidV7Source } from "../../src/ledger/hash.ts";
import type { LedgerId, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { CommitQueue } from "../../src/log/commit-queue.ts";
import { Sequencer, type LedgerTail } from "../../src/log/sequencer.ts";
import { SeqConflictError } from "../../src/ports/index.ts";
import { ManualClock } from "../support/manual-clock.ts";

const draft = (i: number): ReceiptDraft => ({ operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `s${i}`, action: "noop", code: "not_permitted", reason: "test" });

function setup() {
  const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
  const sequencer = new Sequencer(clock, createUuidV7Source(() => clock.now()));
  const queue = new CommitQueue();
  const open = (ledger: string): LedgerTail => {
    sequencer.open(ledger as LedgerId);
    return sequencer.tail(ledger);
  };
  const seal = (tail: LedgerTail, n: number) => {
    for (let i = 0; i < n; i++) {
      sequencer.seal(tail, draft(i));
      queue.sealed(tail);
    }
  };
  return { queue, open, seal };
}

describe("the commit queue", () => {
  it("counts what was sealed since the last take, and hands every waiting ledger to one take", () => {
    const { queue, open, seal } = setup();
    const a = open("acct-a");
    const b = open("acct-b");
    expect(queue.isEmpty).toBe(true);
    seal(a, 2);
    expect(queue.sealed(b)).toBe(3);
    expect(queue.hasPending()).toBe(true);
    expect([...queue.take()]).toEqual([a, b]);
    expect(queue.isEmpty).toBe(true);
    queue.mark(a);
    expect(queue.sealed(b)).toBe(1);
    expect([...queue.take()]).toEqual([a, b]);
  });

  it("takes every pending receipt at once for the spool, leaving fenced ledgers out", () => {
    const { queue, open, seal } = setup();
    const a = open("acct-a");
    const b = open("acct-b");
    seal(a, 3);
    seal(b, 2);
    b.fenced = new SeqConflictError("acct-b", 0, 1);
    expect(queue.hasPending()).toBe(true);
    const taken = queue.takeAll();
    expect(taken.map((t) => [t.tail.ledger, t.receipts.map((r) => r.seq), t.texts.length])).toEqual([["acct-a", [0, 1, 2], 3]]);
    expect(a).toMatchObject({ pending: [], pendingTexts: [], submitted: 3 });
    expect(queue.isEmpty).toBe(true);
  });

  it("puts receipts that did not land back in seq order in front of those sealed since, and holds new commits until mended", () => {
    const { queue, open, seal } = setup();
    const a = open("acct-a");
    seal(a, 3);
    const first = queue.takeAll()[0]!;
    seal(a, 3);
    const second = queue.takeAll()[0]!;
    seal(a, 2);
    expect(a.submitted).toBe(6);
    queue.requeue(second);
    queue.requeue(first);
    expect(a.pending.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(a.pendingTexts.map((t) => (JSON.parse(t) as { seq: number }).seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(a.submitted).toBe(a.durable);
    expect(queue.broken).toBe(true);
    expect([...queue.take()]).toEqual([a]);
    queue.mend();
    expect(queue.broken).toBe(false);
  });
});
