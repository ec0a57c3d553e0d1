/** The sequencer alone: sealing drafts into chains, taking a ledger over from its head. */
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { createUuidV7Source, genesisHash, receiptHash } from "../../src/ledger/hash.ts";
import { merkleRoot, MerkleFrontier } from "../../src/ledger/merkle.ts";
import { PLATFORM_LEDGER, type LedgerId, type ReceiptDraft } from "../../src/ledger/receipt.ts";
import { Sequencer } from "../../src/log/sequencer.ts";
import { ManualClock } from "../support/manual-clock.ts";

const draft = (i: number): ReceiptDraft => ({ operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `s${i}`, action: "noop", code: "not_permitted", reason: "test" });
const start = Date.parse("2026-12-01T00:00:00.000Z");

function setup() {
  const clock = new ManualClock(start);
  return { clock, sequencer: new Sequencer(clock, createUuidV7Source(() => clock.now())) };
}

describe("the sequencer", () => {
  it("seals a chain from the genesis hash, queues each receipt with its text, and keeps the Merkle frontier in step", () => {
    const { clock, sequencer } = setup();
    const ledger = "acct-seq" as LedgerId;
    sequencer.open(ledger);
    const tail = sequencer.tail(ledger);
    const receipts = [0, 1, 2, 3, 4].map((i) => {
      clock.advance(1);
      return sequencer.seal(tail, draft(i));
    });
    expect(receipts.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    let prev = genesisHash(ledger);
    for (const r of receipts) {
      expect(r).toMatchObject({ ledger, account_id: ledger, prev_hash: prev });
      expect(receiptHash(r)).toBe(r.hash);
      prev = r.hash;
    }
    expect(tail).toMatchObject({ sealed: 5, durable: 0, submitted: 0, lastHash: prev });
    expect(tail.pending).toEqual(receipts);
    expect(tail.pendingTexts.map((t) => JSON.parse(t))).toEqual(receipts);
    expect(Buffer.from(tail.frontier.root()).toString("hex")).toBe(Buffer.from(merkleRoot(receipts.map((r) => Buffer.from(r.hash, "hex")))).toString("hex"));
    expect(sequencer.sealedTotal).toBe(5);
  });

  it("never lets a ledger's timestamps go back, even when the clock does", () => {
    const { clock, sequencer } = setup();
    const ledger = "acct-time" as LedgerId;
    sequencer.open(ledger);
    const tail = sequencer.tail(ledger);
    const first = sequencer.seal(tail, draft(0));
    clock.advance(-5_000);
    const second = sequencer.seal(tail, draft(1));
    expect(second.timestamp).toBe(first.timestamp);
    expect(first.timestamp).toBe("2026-12-01T00:00:00.000Z");
  });

  it("seals platform receipts without an account id", () => {
    const { sequencer } = setup();
    sequencer.open(PLATFORM_LEDGER as LedgerId);
    const r = sequencer.seal(sequencer.tail(PLATFORM_LEDGER), draft(0));
    expect(r.ledger).toBe(PLATFORM_LEDGER);
    expect("account_id" in r).toBe(false);
  });

  it("takes a ledger over from its durable head, and keeps the tail it has when opened again", () => {
    const { sequencer } = setup();
    const ledger = "acct-resume" as LedgerId;
    const frontier = new MerkleFrontier();
    for (const h of ["a", "b", "c"]) frontier.push(Buffer.from(h.repeat(64), "hex"));
    sequencer.open(ledger, { size: 3, lastHash: "c".repeat(64), lastTimestamp: "2026-12-02T00:00:00.000Z", frontier, checkpointed: 2 });
    const tail = sequencer.tail(ledger);
    expect(tail).toMatchObject({ sealed: 3, durable: 3, submitted: 3, checkpointed: 2 });
    sequencer.open(ledger);
    expect(sequencer.tail(ledger)).toBe(tail);
    const r = sequencer.seal(tail, draft(3));
    expect(r).toMatchObject({ seq: 3, prev_hash: "c".repeat(64), timestamp: "2026-12-02T00:00:00.000Z" });
    expect(tail.frontier.size).toBe(4);
  });

  it("refuses a ledger id that is neither an account id nor the platform ledger, and a ledger it does not hold", () => {
    const { sequencer } = setup();
    expect(() => sequencer.open("Not An Account!" as LedgerId)).toThrow(TypeError);
    expect(() => sequencer.tail("acct-none")).toThrow("ledger acct-none is not open in this writer");
    expect(sequencer.has("acct-none")).toBe(false);
  });

  it("tells a released tail from the one that replaced it", () => {
    const { sequencer } = setup();
    const ledger = "acct-release" as LedgerId;
    sequencer.open(ledger);
    const old = sequencer.tail(ledger);
    expect(sequencer.holds(old)).toBe(true);
    sequencer.release(ledger);
    expect(sequencer.has(ledger)).toBe(false);
    expect(sequencer.holds(old)).toBe(false);
    sequencer.open(ledger);
    expect(sequencer.holds(old)).toBe(false);
    expect(sequencer.holds(sequencer.tail(ledger))).toBe(true);
    expect([...sequencer.tails()]).toEqual([sequencer.tail(ledger)]);
  });
});
