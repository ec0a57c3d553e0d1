/** Receipts for the store benchmarks, sealed before any clock starts. */
import { genesisHash, sealReceipt, uuidV7 } from "../src/ledger/hash.ts";
import type { LedgerId, Receipt } from "../src/ledger/receipt.ts";

export const T0 = Date.parse("2026-11-24T00:00:00.000Z");

/** `n` chained `action_complete` receipts of one ledger, seq 0 on. */
export function sealedChain(ledger: LedgerId, n: number): Receipt[] {
  const out: Receipt[] = [];
  let prev = genesisHash(ledger);
  for (let seq = 0; seq < n; seq++) {
    const r = sealReceipt(
      { operation: "action_complete", status: "success", duration_ms: 1, signal_id: `s${seq}`, action_id: uuidV7(T0 + seq), action: "noop" },
      { ledger, seq, prevHash: prev, timestamp: new Date(T0 + seq).toISOString(), receiptId: uuidV7(T0 + seq), accountId: ledger },
    );
    prev = r.hash;
    out.push(r);
  }
  return out;
}
