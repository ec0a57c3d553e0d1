/**
 * The ledger's cryptographic core: the Merkle root over a million receipt
 * hashes, and the bare canonicalize + hash rate of realistic receipts (the
 * reference other figures, such as archive verification, are held against).
 */
import { createHash } from "node:crypto";
import { genesisHash, receiptHash, sealReceipt, uuidV7 } from "../src/ledger/hash.ts";
import { merkleRoot } from "../src/ledger/merkle.ts";
import type { Receipt, ReceiptDraft } from "../src/ledger/receipt.ts";
import { atLeast, atMost, median, type BenchOptions, type Figure } from "./harness.ts";

const T0 = Date.parse("2026-11-24T10:00:00.000Z");

function leafHashes(n: number): Uint8Array[] {
  const seed = createHash("sha256").update("merkle bench").digest();
  return Array.from({ length: n }, (_, i) => {
    const leaf = new Uint8Array(seed);
    new DataView(leaf.buffer).setUint32(0, i);
    return leaf;
  });
}

/** The drafts a busy tenant's ledger is made of: actions started and completed, some refused, the odd scale. */
function draftAt(i: number): ReceiptDraft {
  const actionId = uuidV7(T0 + i, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, (i >> 8) & 0xff, i & 0xff));
  switch (i % 8) {
    case 0:
    case 2:
    case 4:
      return {
        operation: "action_started",
        status: "pending",
        duration_ms: 0,
        signal_id: `sig-${i}`,
        action_id: actionId,
        action: "resize_pool",
        handler: "http",
        params: { pool: "workers-eu", size: 3 + (i % 5), reason: "queue depth above threshold", tags: ["auto", "lag"] },
        deadline: new Date(T0 + i + 500).toISOString(),
        timeout_ms: 500,
      };
    case 1:
    case 3:
    case 5:
      return {
        operation: "action_complete",
        status: "success",
        duration_ms: 12 + (i % 40),
        signal_id: `sig-${i - 1}`,
        action_id: actionId,
        action: "resize_pool",
        result_sha256: createHash("sha256").update(String(i)).digest("hex"),
      };
    case 6:
      return { operation: "action_refused", status: "refused", duration_ms: 0, signal_id: `sig-${i}`, action: "drop_tables", code: "not_permitted", reason: "action drop_tables is not in policy v3" };
    default:
      return {
        operation: "governor_scaled",
        status: "success",
        duration_ms: 3,
        previous_concurrency: 2,
        concurrency: 3,
        cost_delta_usd: "0.50",
        reason: "lag",
        queue_depth: 120 + (i % 50),
        oldest_wait_ms: 900,
      };
  }
}

function sealedReceipts(n: number): Receipt[] {
  const ledger = "acct-bench-0001";
  const out: Receipt[] = [];
  let prev = genesisHash(ledger);
  for (let i = 0; i < n; i++) {
    const r = sealReceipt(draftAt(i), {
      ledger,
      seq: i,
      prevHash: prev,
      timestamp: new Date(T0 + i).toISOString(),
      receiptId: uuidV7(T0 + i),
      accountId: ledger,
    });
    prev = r.hash;
    out.push(r);
  }
  return out;
}

/** Runs the Merkle root and the bare canonicalize + hash loop. */
export async function run(options: BenchOptions): Promise<Figure[]> {
  const leaves = options.quick ? 100_000 : 1_000_000;
  const hashes = leafHashes(leaves);
  const rootMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    merkleRoot(hashes);
    rootMs.push(performance.now() - t);
  }

  const count = options.quick ? 20_000 : 200_000;
  const receipts = sealedReceipts(count);
  const rates: number[] = [];
  let check = 0;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    for (const r of receipts) if (receiptHash(r).charCodeAt(0) === 0x30) check++;
    rates.push((count / (performance.now() - t)) * 1000);
  }
  if (check < 0) throw new Error("unreachable: keeps the loop's results alive");

  return [
    atMost(`merkle root, ${leaves.toLocaleString("en-US")} leaves`, median(rootMs), "ms", 2000, "<= 2000 ms"),
    atLeast("bare canonicalize+hash loop", median(rates), "receipts/s", 150_000, ">= 150,000/s (reference)"),
  ];
}
