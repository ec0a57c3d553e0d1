/** Durability alone: callbacks run once their ledger is durable far enough, and fail when it never will be. */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { Durability } from "../../src/log/durability.ts";
import { Sequencer, type LedgerTail } from "../../src/log/sequencer.ts";
import { SeqConflictError } from "../../src/ports/index.ts";
import { ManualClock } from "../support/manual-clock.ts";

/** A tail with `sealed` receipts sealed, none durable (the counters are all durability reads). */
function tailOf(ledger: string, sealed: number): LedgerTail {
  const sequencer = new Sequencer(new ManualClock(0), () => "unused");
  sequencer.open(ledger as LedgerId);
  const tail = sequencer.tail(ledger);
  tail.sealed = sealed;
  return tail;
}

const turn = () => new Promise((r) => setImmediate(r));

describe("durability", () => {
  it("runs each callback once the receipts sealed before it are durable, in the order they became so, and no sooner", async () => {
    const durability = new Durability(pino({ level: "silent" }));
    const a = tailOf("acct-a", 2);
    const b = tailOf("acct-b", 1);
    const ran: string[] = [];
    durability.after(a, () => ran.push("a@2"), () => ran.push("a@2 failed"));
    durability.after(b, () => ran.push("b@1"), () => ran.push("b@1 failed"));
    a.sealed = 4;
    durability.after(a, () => ran.push("a@4"), () => ran.push("a@4 failed"));
    durability.advance(a, 3);
    durability.advance(b, 1);
    await turn();
    expect(ran).toEqual(["a@2", "b@1"]);
    expect(a.durable).toBe(3);
    expect(a.waiters.map((w) => w.size)).toEqual([4]);
    durability.advance(a, 1);
    await turn();
    expect(ran).toEqual(["a@2", "b@1", "a@4"]);
    expect(a.waiters).toEqual([]);
  });

  it("runs a callback on a ledger durable already at once, behind the ready ones still waiting their turn", async () => {
    const durability = new Durability(pino({ level: "silent" }));
    const a = tailOf("acct-a", 1);
    const b = tailOf("acct-b", 0);
    const ran: string[] = [];
    durability.after(a, () => ran.push("waited"), () => {});
    durability.advance(a, 1);
    durability.after(b, () => ran.push("at once"), () => {});
    await turn();
    expect(ran).toEqual(["waited", "at once"]);
    durability.after(b, () => ran.push("alone"), () => {});
    await Promise.resolve();
    expect(ran).toEqual(["waited", "at once", "alone"]);
  });

  it("fails what waits on a fenced ledger, and what is registered on it after", () => {
    const durability = new Durability(pino({ level: "silent" }));
    const a = tailOf("acct-a", 2);
    const failed: Error[] = [];
    durability.after(a, () => expect.fail("ran"), (e) => failed.push(e));
    const conflict = new SeqConflictError("acct-a", 0, 5);
    a.fenced = conflict;
    durability.failAll(a, conflict);
    durability.after(a, () => expect.fail("ran"), (e) => failed.push(e));
    expect(failed).toEqual([conflict, conflict]);
    expect(a.waiters).toEqual([]);
  });

  it("logs a callback that throws and runs the rest", async () => {
    const logged: { msg: string }[] = [];
    const durability = new Durability(pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) }));
    const a = tailOf("acct-a", 1);
    const ran: number[] = [];
    durability.after(a, () => {
      throw new Error("boom");
    }, () => {});
    durability.after(a, () => ran.push(2), () => {});
    durability.advance(a, 1);
    await turn();
    expect(ran).toEqual([2]);
    expect(logged.map((l) => l.msg)).toEqual(["an effect run after its receipts became durable threw"]);
  });
});
