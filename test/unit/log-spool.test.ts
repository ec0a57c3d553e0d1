import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import { drainSpool, FileSpool, SpoolDivergenceError } from "../../src/log/spool.ts";
import { chain } from "../contract/ledger-store.ts";
import { createMemoryLedgerStore } from "../../src/adapters/memory/memory-ledger-store.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function spoolFile(): FileSpool {
  const dir = mkdtempSync(join(tmpdir(), "governor-spool-"));
  dirs.push(dir);
  return new FileSpool(join(dir, "spool", "receipts.jsonl"));
}
const logger = pino({ level: "silent" });
const L = "spooled" as LedgerId;

describe("the safe-mode spool", () => {
  it("drains into the store in order, skips what already landed, and is empty after", async () => {
    const store = createMemoryLedgerStore();
    const receipts = chain(L, 5);
    await store.append({ ledger: L, expectedSeq: 0, receipts: receipts.slice(0, 2) });
    const spool = spoolFile();
    // Seqs 1..4 were spooled; seq 1 had landed after all (a commit that timed out on our side).
    await spool.append(receipts.slice(1).map((receipt) => ({ ledger: L, receipt })));
    expect(await drainSpool(store, spool, logger)).toEqual({ receipts: 4, ledgers: 1 });
    expect(await store.read(L, 0, 10)).toEqual(receipts);
    expect(await spool.readAll()).toEqual([]);
    expect(await drainSpool(store, spool, logger)).toEqual({ receipts: 0, ledgers: 0 });
  });

  it("refuses to fork a ledger: a spooled receipt that differs from the stored one stops the drain and keeps the spool", async () => {
    const store = createMemoryLedgerStore();
    const receipts = chain(L, 3);
    const other = { ...receipts[1]!, hash: "f".repeat(64) } as Receipt;
    await store.append({ ledger: L, expectedSeq: 0, receipts: [receipts[0]!, other] });
    const spool = spoolFile();
    await spool.append(receipts.slice(1).map((receipt) => ({ ledger: L, receipt })));
    await expect(drainSpool(store, spool, logger)).rejects.toBeInstanceOf(SpoolDivergenceError);
    expect(await spool.readAll()).toHaveLength(2);
    expect((await store.head(L)).size).toBe(2);
  });

  it("leaves out a torn last line (a write the process died in, never acknowledged)", async () => {
    const spool = spoolFile();
    const receipts = chain(L, 2);
    await spool.append([{ ledger: L, receipt: receipts[0]! }]);
    writeFileSync(spool.path, `${readFileSync(spool.path, "utf8")}{"ledger":"spooled","receipt":{"seq":1,`, { flag: "w" });
    expect((await spool.readAll()).map((e) => e.receipt.seq)).toEqual([0]);
  });
});
