/** The checkpointer alone: which batch carries a checkpoint, what it signs, and the trailing pass. */
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { generateSignerKey, openCheckpoint } from "../../src/ledger/checkpoint.ts";
import { createUuidV7Source } from "../../src/ledger/hash.ts";
import type { LedgerId, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { Checkpointer } from "../../src/log/checkpointer.ts";
import { CommitQueue } from "../../src/log/commit-queue.ts";
import { Sequencer, type LedgerTail } from "../../src/log/sequencer.ts";
import { ManualClock } from "../support/manual-clock.ts";

const draft = (i: number): ReceiptDraft => ({ operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `s${i}`, action: "noop", code: "not_permitted", reason: "test" });

function setup(o: { intervalMs?: number; maxPerCommit?: number } = {}) {
  const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
  const sequencer = new Sequencer(clock, createUuidV7Source(() => clock.now()));
  const signer = generateSignerKey("log-test");
  let due = 0;
  const queue = new CommitQueue();
  const checkpointer = new Checkpointer({ signers: [signer], originPrefix: "gov.example", clock, ...o, onDue: () => void due++ }, sequencer, queue);
  const sealed = (ledger: string, n: number): LedgerTail => {
    sequencer.open(ledger as LedgerId);
    const tail = sequencer.tail(ledger);
    for (let i = 0; i < n; i++) sequencer.seal(tail, draft(i));
    return tail;
  };
  return { clock, queue, checkpointer, signer, sealed, due: () => due };
}

describe("the checkpointer", () => {
  it("signs a checkpoint over everything sealed, under the ledger's origin, that a verifier opens", () => {
    const { checkpointer, signer, sealed } = setup();
    const tail = sealed("acct-cp", 4);
    checkpointer.startCommit();
    const cp = checkpointer.forBatch(tail, 4, 4)!;
    expect(cp.size).toBe(4);
    expect(cp.root).toBe(Buffer.from(tail.frontier.root()).toString("base64"));
    const opened = openCheckpoint(cp.note, [signer]);
    expect(opened.checkpoint).toMatchObject({ origin: "gov.example/acct-cp", size: 4 });
    expect(checkpointer.origin("acct-cp")).toBe("gov.example/acct-cp");
  });

  it("never checkpoints part of what was sealed, nor what is checkpointed already", () => {
    const { checkpointer, sealed } = setup();
    const tail = sealed("acct-part", 4);
    checkpointer.startCommit();
    expect(checkpointer.forBatch(tail, 3, 3)).toBeUndefined();
    tail.checkpointed = 4;
    expect(checkpointer.forBatch(tail, 4, 0)).toBeUndefined();
  });

  it("gives a ledger at most one checkpoint per interval, unless one is requested", () => {
    const t = setup({ intervalMs: 1000 });
    const { clock, checkpointer, sealed } = t;
    const tail = sealed("acct-interval", 2);
    checkpointer.startCommit();
    expect(checkpointer.forBatch(tail, 2, 2)?.size).toBe(2);
    tail.checkpointed = 2;
    sealed("acct-interval", 1);
    clock.advance(999);
    checkpointer.startCommit();
    expect(checkpointer.forBatch(tail, 3, 1)).toBeUndefined();
    checkpointer.request(tail);
    expect(t.queue.take()).toContain(tail);
    expect(checkpointer.forBatch(tail, 3, 1)?.size).toBe(3);
  });

  it("signs for at most so many ledgers with receipts in one commit, and never defers a checkpoint-only batch", () => {
    const { checkpointer, sealed } = setup({ maxPerCommit: 2 });
    const tails = ["acct-1", "acct-2", "acct-3"].map((l) => sealed(l, 1));
    checkpointer.startCommit();
    expect(tails.map((t) => checkpointer.forBatch(t, 1, 1)?.size)).toEqual([1, 1, undefined]);
    expect(checkpointer.forBatch(tails[2]!, 1, 0)?.size).toBe(1);
    checkpointer.startCommit();
    expect(checkpointer.forBatch(sealed("acct-4", 1), 1, 1)?.size).toBe(1);
  });

  it("queues, once the interval has passed, the ledgers not checkpointed up to what they sealed, and never after it is cancelled for good", () => {
    const { clock, queue, checkpointer, sealed, due } = setup({ intervalMs: 1000 });
    const behind = sealed("acct-behind", 2);
    const done = sealed("acct-done", 1);
    done.checkpointed = 1;
    queue.take();
    checkpointer.armTrailing();
    checkpointer.armTrailing();
    clock.advance(999);
    expect(due()).toBe(0);
    clock.advance(1);
    expect(due()).toBe(1);
    expect([...queue.take()]).toEqual([behind]);
    behind.checkpointed = 2;
    checkpointer.armTrailing();
    clock.advance(1000);
    expect(due()).toBe(1);
    checkpointer.armTrailing();
    checkpointer.cancel();
    clock.advance(5000);
    checkpointer.armTrailing();
    checkpointer.cancel(true);
    checkpointer.armTrailing();
    expect(clock.pending).toBe(0);
  });

  it("queues every ledger behind its sealed size at once when asked to (a shutdown)", () => {
    const { clock, queue, checkpointer, sealed } = setup({ intervalMs: 60_000 });
    const a = sealed("acct-a", 1);
    checkpointer.startCommit();
    expect(checkpointer.forBatch(a, 1, 1)).toBeDefined();
    sealed("acct-a", 1);
    queue.take();
    clock.advance(1);
    expect(checkpointer.queueUncheckpointed(true)).toBe(true);
    expect([...queue.take()]).toEqual([a]);
    checkpointer.startCommit();
    expect(checkpointer.forBatch(a, 2, 0)?.size).toBe(2);
  });
});
