/**
 * Recorded ledgers rebuilt by the current machines. A change that would make
 * a stored ledger rebuild to a different state fails here, loudly: either the
 * change is wrong, or it needs a migration (and `node test/replay/record.ts`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Receipt } from "../../src/ledger/receipt.ts";
import { Receipt as ReceiptSchema } from "../../src/ledger/receipt.ts";
import { appliedLive, phaseByStatechart, rebuiltState } from "./rebuild.ts";

const dir = join(import.meta.dirname, "ledgers");
const names = readdirSync(dir).filter((f) => f.endsWith(".jsonl")).map((f) => f.replace(/\.jsonl$/, ""));

describe("replay of recorded ledgers", () => {
  it("has recorded ledgers", () => expect(names.length).toBeGreaterThanOrEqual(3));
  for (const name of names) {
    const receipts = readFileSync(join(dir, `${name}.jsonl`), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Receipt);
    const recorded = JSON.parse(readFileSync(join(dir, `${name}.state.json`), "utf8")) as unknown;

    it(`${name}: every receipt still matches its schema`, () => {
      for (const r of receipts) expect(ReceiptSchema.safeParse(r).success, `seq ${r.seq}`).toBe(true);
    });
    it(`${name}: rebuilds to the recorded state`, () => {
      expect(rebuiltState(receipts)).toEqual(recorded);
    });
    it(`${name}: replay equals applying each receipt live, and the lifecycle equals the statechart's`, () => {
      const { reactions: _reactions, ...live } = appliedLive(receipts);
      expect(live).toEqual(rebuiltState(receipts));
      expect(phaseByStatechart(receipts)).toBe(rebuiltState(receipts).value);
    });
  }
});
