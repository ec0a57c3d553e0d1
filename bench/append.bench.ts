/**
 * Embedded append throughput: batches of 100 receipts, durable (fsynced) as
 * the store is configured by default, from several concurrent writers so that
 * group commit engages. Receipts are built before the clock starts: only the
 * store is measured.
 */
import { join } from "node:path";
import { createSqliteLedgerStore } from "../src/adapters/embedded/sqlite-ledger-store.ts";
import { genesisHash, sealReceipt, uuidV7 } from "../src/ledger/hash.ts";
import type { LedgerId, Receipt } from "../src/ledger/receipt.ts";
import { atLeast, median, type BenchOptions, type Figure } from "./harness.ts";

function build(ledgers: number, perLedger: number): Map<LedgerId, Receipt[]> {
  const out = new Map<LedgerId, Receipt[]>();
  const t0 = Date.parse("2026-11-24T00:00:00.000Z");
  for (let l = 0; l < ledgers; l++) {
    const ledger = `append-${l}` as LedgerId;
    const list: Receipt[] = [];
    let prev = genesisHash(ledger);
    for (let seq = 0; seq < perLedger; seq++) {
      const r = sealReceipt(
        { operation: "action_complete", status: "success", duration_ms: 1, signal_id: `s${seq}`, action_id: uuidV7(t0 + seq), action: "noop" },
        { ledger, seq, prevHash: prev, timestamp: new Date(t0 + seq).toISOString(), receiptId: uuidV7(t0 + seq), accountId: ledger },
      );
      prev = r.hash;
      list.push(r);
    }
    out.set(ledger, list);
  }
  return out;
}

/** Every ledger appends its batches one after another; all ledgers at once. */
async function appendRate(dir: string, data: Map<LedgerId, Receipt[]>, batch: number): Promise<number> {
  const store = createSqliteLedgerStore({ path: join(dir, "append.sqlite") });
  let total = 0;
  const t0 = performance.now();
  await Promise.all(
    [...data].map(async ([ledger, receipts]) => {
      for (let i = 0; i < receipts.length; i += batch) {
        await store.append({ ledger, expectedSeq: i, receipts: receipts.slice(i, i + batch) });
        total += Math.min(batch, receipts.length - i);
      }
    }),
  );
  const rate = (total / (performance.now() - t0)) * 1000;
  await store.close();
  return rate;
}

export async function run(options: BenchOptions): Promise<Figure[]> {
  const ledgers = options.quick ? 20 : 50;
  const perLedger = options.quick ? 2000 : 10_000; // 500,000 receipts: well over 5 s of appends
  const data = build(ledgers, perLedger);
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) rates.push(await appendRate(join(options.scratch, `run${i}`), data, 100));
  return [atLeast(`embedded append, batches of 100, fsynced, ${ledgers} concurrent writers (receipts prebuilt)`, median(rates), "receipts/s", 50_000, ">= 50,000 receipts/s")];
}
