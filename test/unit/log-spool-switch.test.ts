/** The spool switch alone: commits to the spool in safe mode, and the drain back into the store. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryLedgerStore } from "../../src/adapters/memory/memory-ledger-store.ts";
import { createUuidV7Source } from "../../src/ledger/hash.ts";
import type { LedgerId, ReceiptDraft } from "../../src/ledger/receipt.ts";
import { CommitQueue } from "../../src/log/commit-queue.ts";
import { Durability } from "../../src/log/durability.ts";
import { Sequencer, type LedgerTail } from "../../src/log/sequencer.ts";
import { FileSpool } from "../../src/log/spool.ts";
import { SpoolSwitch } from "../../src/log/spool-switch.ts";
import { StoreUnavailableError } from "../../src/ports/index.ts";
import { ManualClock } from "../support/manual-clock.ts";

const draft = (i: number): ReceiptDraft => ({ operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `s${i}`, action: "noop", code: "not_permitted", reason: "test" });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "governor-spool-switch-"));
  dirs.push(dir);
  const clock = new ManualClock(Date.parse("2026-12-01T00:00:00.000Z"));
  const store = createMemoryLedgerStore();
  const spool = new FileSpool(join(dir, "spool", "receipts.jsonl"));
  const sequencer = new Sequencer(clock, createUuidV7Source(() => clock.now()));
  const queue = new CommitQueue();
  const durability = new Durability(pino({ level: "silent" }));
  const switched = new SpoolSwitch(spool, store, pino({ level: "silent" }), queue, durability);
  const seal = (ledger: string, n: number): LedgerTail => {
    if (!sequencer.has(ledger)) sequencer.open(ledger as LedgerId);
    const tail = sequencer.tail(ledger);
    for (let i = 0; i < n; i++) {
      sequencer.seal(tail, draft(i));
      queue.sealed(tail);
    }
    return tail;
  };
  return { store, spool, queue, switched, seal };
}

describe("the spool switch", () => {
  it("makes receipts durable in the spool, in chain order, and drains them into the store when switched off", async () => {
    const t = setup();
    expect(t.switched.turnOn()).toBe(true);
    expect(t.switched.turnOn()).toBe(false);
    const a = t.seal("acct-a", 2);
    const b = t.seal("acct-b", 1);
    await t.switched.serial(() => t.switched.commit());
    expect([a.durable, b.durable, a.submitted]).toEqual([2, 1, 2]);
    expect((await t.spool.readAll()).map((e) => `${e.ledger}:${e.receipt.seq}`)).toEqual(["acct-a:0", "acct-a:1", "acct-b:0"]);
    expect(t.store.ledgers.size).toBe(0);
    t.seal("acct-a", 1);
    await t.switched.serial(() => t.switched.commit());
    expect(await t.switched.turnOff()).toBe(4);
    expect(t.switched.on).toBe(false);
    expect(t.store.ledgers.get("acct-a")!.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect(await t.spool.readAll()).toEqual([]);
  });

  it("stays on, with the spool kept, when the store fails during the drain", async () => {
    const t = setup();
    t.switched.turnOn();
    t.seal("acct-a", 2);
    await t.switched.serial(() => t.switched.commit());
    t.store.failing = true;
    await expect(t.switched.turnOff()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(t.switched.on).toBe(true);
    expect(t.switched.draining).toBe(false);
    expect(await t.spool.readAll()).toHaveLength(2);
  });

  it("keeps the receipts in memory, in order, when the spool cannot be written", async () => {
    const t = setup();
    t.switched.turnOn();
    const a = t.seal("acct-a", 3);
    Object.assign(t.spool, { append: () => Promise.reject(new Error("disk full (test)")) });
    await expect(t.switched.serial(() => t.switched.commit())).rejects.toThrow("disk full (test)");
    expect(a.pending.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect([a.durable, a.submitted]).toEqual([0, 0]);
    expect(t.queue.broken).toBe(false);
    expect(t.queue.hasPending()).toBe(true);
  });

  it("runs spool commits one after another, each after those before it ended", async () => {
    const t = setup();
    const order: string[] = [];
    let release = () => {};
    const first = t.switched.serial(() => new Promise<void>((r) => (release = () => (order.push("first"), r()))));
    const second = t.switched.serial(async () => void order.push("second"));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first", "second"]);
  });
});
