/**
 * Receipt appends to the Firestore emulator through the ledger store
 * (batches of 100, one atomic commit each, several ledgers at once as the
 * writer sends them) against bare sequential `create()` calls of the same
 * receipts, measured in the same run against the same emulator.
 */
import { randomUUID } from "node:crypto";
import { createFirestoreClient, createFirestoreLedgerStore } from "../src/adapters/gcp/firestore-ledger-store.ts";
import type { LedgerId } from "../src/ledger/receipt.ts";
import { clearFirestoreEmulator } from "./emulators.ts";
import { atLeast, median, type BenchOptions, type Figure } from "./harness.ts";
import { sealedChain } from "./receipts.ts";

const LEDGERS = 4;
const NAME = `Firestore emulator: receipts appended through the store (batches of 100, ${LEDGERS} ledgers at once; median of 3)`;

export async function run(options: BenchOptions): Promise<Figure[]> {
  if (!process.env["FIRESTORE_EMULATOR_HOST"]) {
    // Nothing to measure against: a figure that fails and says why, rather than a run that stops.
    return [atLeast(NAME, 0, "receipts/s", 1, 'needs the Firestore emulator: FIRESTORE_EMULATOR_HOST is not set; run `eval "$(infra/emulators/start.sh)"` first')];
  }
  const n = options.quick ? 500 : 2000;
  const ledgers = LEDGERS;
  const bare: number[] = [];
  const batched: number[] = [];
  // Round 0 warms the emulator's JIT and is not counted.
  for (let round = 0; round < 4; round++) {
    const prefix = `bench${randomUUID().slice(0, 8)}-`;
    await clearFirestoreEmulator();
    // Bare: one create() per receipt, one after another.
    const db = createFirestoreClient();
    const coll = db.collection(`${prefix}bare`);
    const plain = sealedChain("bare" as LedgerId, n);
    await coll.doc("warm-up").create({ x: 1 });
    let t0 = performance.now();
    for (const r of plain) await coll.doc(String(r.seq).padStart(12, "0")).create({ seq: r.seq, hash: r.hash, body: JSON.stringify(r) });
    if (round > 0) bare.push((n / (performance.now() - t0)) * 1000);
    await db.terminate();

    await clearFirestoreEmulator();
    // The store: batches of 100 per ledger, the ledgers' batches committed together.
    const store = createFirestoreLedgerStore({ firestore: createFirestoreClient(), collectionPrefix: prefix });
    const per = n / ledgers;
    const data = Array.from({ length: ledgers }, (_, l) => sealedChain(`ledger-${l}` as LedgerId, per));
    await store.probe(5000);
    t0 = performance.now();
    for (let from = 0; from < per; from += 100) {
      const outcomes = await store.appendMany(data.map((rs, l) => ({ ledger: `ledger-${l}` as LedgerId, expectedSeq: from, receipts: rs.slice(from, from + 100) })));
      if (outcomes.some((o) => o !== null)) throw new Error("unexpected conflict");
    }
    if (round > 0) batched.push((n / (performance.now() - t0)) * 1000);
    await store.close();
  }
  const b = median(bare);
  return [atLeast(NAME, median(batched), "receipts/s", b, `>= 1x bare sequential create() (${Math.round(b).toLocaleString("en-US")}/s in the same run)`)];
}
