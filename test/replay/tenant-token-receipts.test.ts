/**
 * Tenant token receipts on a recorded ledger: replay accepts them (fast path
 * and actor alike) and they change nothing of the governor's state.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { genesisHash, sealReceipt } from "../../src/ledger/hash.ts";
import { Receipt as ReceiptSchema, type Receipt, type ReceiptDraft } from "../../src/ledger/receipt.ts";
import { appliedLive, rebuiltState } from "./rebuild.ts";

const dir = join(import.meta.dirname, "ledgers");
const names = readdirSync(dir).filter((f) => f.endsWith(".jsonl")).map((f) => f.replace(/\.jsonl$/, ""));

const SEALED = new Set(["v", "receipt_id", "ledger", "seq", "timestamp", "account_id", "prev_hash", "hash"]);
const draftOf = (r: Receipt) => Object.fromEntries(Object.entries(r).filter(([k]) => !SEALED.has(k))) as unknown as ReceiptDraft;

/** The ledger again, with an issue after every receipt and a revocation after every third, chained anew. */
function withTokenReceipts(receipts: readonly Receipt[]): Receipt[] {
  const drafts: { draft: ReceiptDraft; at: Receipt }[] = [];
  receipts.forEach((r, i) => {
    drafts.push({ draft: draftOf(r), at: r });
    drafts.push({ draft: { operation: "tenant_token_issued", status: "success", duration_ms: 0, token_id: `tk_${String(i).padStart(16, "0")}`, by: "operator" }, at: r });
    if (i % 3 === 2) {
      drafts.push({ draft: { operation: "tenant_token_revoked", status: "success", duration_ms: 0, token_id: `tk_${String(i).padStart(16, "0")}`, by: "governor", reason: "decommissioned" }, at: r });
    }
  });
  const out: Receipt[] = [];
  for (const [seq, { draft, at }] of drafts.entries()) {
    out.push(
      sealReceipt(draft, {
        ledger: at.ledger,
        seq,
        prevHash: out.at(-1)?.hash ?? genesisHash(at.ledger),
        timestamp: at.timestamp,
        receiptId: at.receipt_id,
        ...(at.account_id === undefined ? {} : { accountId: at.account_id }),
      }),
    );
  }
  return out;
}

/** The rebuilt state without where the ledger ends (which token receipts do move). */
function withoutPosition(rebuilt: ReturnType<typeof rebuiltState>) {
  const { lastSeq: _s, lastHash: _h, ...rest } = rebuilt.state;
  return { ...rebuilt, state: rest };
}

describe("tenant token receipts in replay", () => {
  for (const name of names) {
    it(`${name}: accepted by the schema and by replay, and the governor's state is as without them`, () => {
      const receipts = readFileSync(join(dir, `${name}.jsonl`), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Receipt);
      const mixed = withTokenReceipts(receipts);
      for (const r of mixed) expect(ReceiptSchema.safeParse(r).success, `seq ${r.seq}`).toBe(true);
      const fast = rebuiltState(mixed);
      const { reactions: _reactions, ...live } = appliedLive(mixed);
      expect(live).toEqual(fast);
      expect(withoutPosition(fast)).toEqual(withoutPosition(rebuiltState(receipts)));
      expect((fast.state as { lastSeq: number }).lastSeq).toBe(mixed.length - 1);
    });
  }
});
