/**
 * A ledger whose stored chain does not link (rows written into SQLite behind
 * the store's back: what a second writer without the linkage check left)
 * is never exported: no checkpoint is signed over it and no archive is
 * written. The same ledger exported before the break verifies.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import { exportLedgerArchive } from "../../src/ledger/archive.ts";
import { ChainBrokenError } from "../../src/ledger/chain-link.ts";
import { generateSignerKey } from "../../src/ledger/checkpoint.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { verifyArchive } from "../../src/ledger/verify.ts";
import { chain } from "../contract/ledger-store.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "governor-broken-chain-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

it("refuses to export (and sign) a chain that does not link, with LEDGER_CHAIN_BROKEN and no archive", async () => {
  const path = join(dir, "ledger.sqlite");
  const store = createSqliteLedgerStore({ path });
  const ledger = "forked" as LedgerId;
  const signer = generateSignerKey("test");
  const receipts = chain(ledger, 8);
  const exportTo = (name: string) =>
    exportLedgerArchive({ store, ledger, origin: `test/${ledger}`, signers: [signer], verifierKeys: [signer.verifierKey], destination: join(dir, name), pageSize: 3 });
  try {
    await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 5) });
    const good = await exportTo("good.tar.gz");
    expect(good.size).toBe(5);
    expect((await verifyArchive(good.path, { trustedKeys: [signer], workers: 0 })).valid).toBe(true);

    // Seqs 5-7 from another chain, inserted raw: seq 5 links to a receipt 4 that is not the stored one.
    const other = chain(ledger, 3, { ...receipts[4]!, hash: "a".repeat(64) }, "another writer");
    const db = new DatabaseSync(path);
    const insert = db.prepare("INSERT INTO receipts (ledger, seq, hash, body) VALUES (?, ?, ?, ?)");
    for (const r of other) insert.run(ledger, r.seq, r.hash, JSON.stringify(r));
    db.close();

    const err = await exportTo("forked.tar.gz").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainBrokenError);
    expect(err).toMatchObject({ code: "LEDGER_CHAIN_BROKEN", ledger, seq: 5 });
    expect((err as Error).message).toMatch(/seq 5: prev_hash .* does not link/);
    expect(existsSync(join(dir, "forked.tar.gz"))).toBe(false);
  } finally {
    await store.close();
  }
});
