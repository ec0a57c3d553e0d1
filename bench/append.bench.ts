/**
 * The embedded store:
 * - append throughput: batches of 100 receipts, durable (fsynced) as the store
 *   is configured by default, 1,000 tenants writing at once so that group
 *   commit engages. Receipts are built before the clock starts: only the
 *   store is measured.
 * - readHashes of a 1,000,000-receipt ledger stored beside those tenants.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createSqliteLedgerStore } from "../src/adapters/embedded/sqlite-ledger-store.ts";
import { genesisHash, sealReceipt, uuidV7 } from "../src/ledger/hash.ts";
import type { LedgerId, Receipt } from "../src/ledger/receipt.ts";
import type { LedgerStore } from "../src/ports/index.ts";
import { atLeast, atMost, median, type BenchOptions, type Figure } from "./harness.ts";
import { sealedChain, T0 } from "./receipts.ts";

function build(ledgers: number, perLedger: number): Map<LedgerId, Receipt[]> {
  const out = new Map<LedgerId, Receipt[]>();
  for (let l = 0; l < ledgers; l++) out.set(`append-${l}` as LedgerId, sealedChain(`append-${l}` as LedgerId, perLedger));
  return out;
}

/** Every tenant appends its batches one after another; all tenants at once. */
async function appendRate(path: string, data: Map<LedgerId, Receipt[]>, batch: number): Promise<{ rate: number; seconds: number }> {
  const store = createSqliteLedgerStore({ path });
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
  const seconds = (performance.now() - t0) / 1000;
  await store.close();
  return { rate: total / seconds, seconds };
}

/**
 * Fills one ledger with `size` receipts. The store neither re-hashes nor
 * checks the chain (the writer and the verifier do), so these are copies of
 * one sealed receipt with their own seq, prev_hash and hash: cheap to make.
 */
async function fillLedger(store: LedgerStore, ledger: LedgerId, size: number): Promise<string[]> {
  const template = sealReceipt(
    { operation: "action_complete", status: "success", duration_ms: 1, signal_id: "s0", action_id: uuidV7(T0), action: "noop" },
    { ledger, seq: 0, prevHash: genesisHash(ledger), timestamp: new Date(T0).toISOString(), receiptId: uuidV7(T0), accountId: ledger },
  );
  const hashes: string[] = [];
  let prev = genesisHash(ledger);
  const chunk = 10_000;
  for (let from = 0; from < size; from += chunk) {
    const receipts: Receipt[] = [];
    for (let seq = from; seq < Math.min(size, from + chunk); seq++) {
      const hash = createHash("sha256").update(`${ledger}/${seq}`).digest("hex");
      receipts.push({ ...template, seq, prev_hash: prev, hash });
      hashes.push(hash);
      prev = hash;
    }
    await store.append({ ledger, expectedSeq: from, receipts });
  }
  return hashes;
}

export async function run(options: BenchOptions): Promise<Figure[]> {
  const tenants = options.quick ? 100 : 1000;
  const perTenant = options.quick ? 500 : 1000; // 1,000,000 receipts a run: over 5 s of appends at the goal's rate and well past it
  const data = build(tenants, perTenant);
  const runs: { rate: number; seconds: number }[] = [];
  for (let i = 0; i < 3; i++) runs.push(await appendRate(join(options.scratch, `append-${i}.sqlite`), data, 100));
  data.clear();
  const seconds = median(runs.map((r) => r.seconds));

  // The big ledger goes into a database that holds the tenants' receipts too.
  const size = options.quick ? 100_000 : 1_000_000;
  const store = createSqliteLedgerStore({ path: join(options.scratch, "append-2.sqlite") });
  const ledger = "readhashes-big" as LedgerId;
  const expected = await fillLedger(store, ledger, size);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const hashes = await store.readHashes(ledger);
    times.push(performance.now() - t0);
    if (hashes.length !== size || hashes[0] !== expected[0] || hashes[size - 1] !== expected[size - 1]) throw new Error("readHashes returned the wrong hashes");
  }
  await store.close();

  return [
    atLeast(
      `embedded append, batches of 100, fsynced, ${tenants} tenants writing at once (receipts prebuilt; store only; median of 3 runs of ${seconds.toFixed(1)} s)`,
      median(runs.map((r) => r.rate)),
      "receipts/s",
      50_000,
      ">= 50,000 receipts/s",
    ),
    atMost(`embedded readHashes of a ${size.toLocaleString("en-US")}-receipt ledger (median of 5)`, median(times), "ms", 1000, "<= 1000 ms"),
  ];
}
