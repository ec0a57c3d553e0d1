/**
 * Durability against a killed process: everything `append` acknowledged is
 * there after SIGKILL, the ledger has no gap and no partial batch, and the
 * chain links.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import { genesisHash, receiptHash } from "../../src/ledger/hash.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";

it("keeps every acknowledged batch, whole, through SIGKILL", async () => {
  const dir = mkdtempSync(join(tmpdir(), "governor-kill-"));
  const path = join(dir, "ledger.sqlite");
  try {
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures/sqlite-appender.ts"), `${path}.${round}`], { stdio: ["ignore", "pipe", "inherit"] });
      let acknowledged = 0;
      let buffer = "";
      const exited = new Promise<void>((res) => child.once("exit", () => res()));
      await new Promise<void>((res) => {
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (d: string) => {
          buffer += d;
          const lines = buffer.split("\n");
          buffer = lines.pop()!;
          for (const l of lines) acknowledged = Math.max(acknowledged, Number(l));
          // Kill at a different point each round, mid-stream.
          if (acknowledged >= 2000 + round * 1500) res();
        });
      });
      child.kill("SIGKILL");
      await exited;

      const store = createSqliteLedgerStore({ path: `${path}.${round}` });
      const ledger = "durable" as LedgerId;
      const head = await store.head(ledger);
      expect(head.size).toBeGreaterThanOrEqual(acknowledged);
      expect(head.size % 50).toBe(0);
      const receipts = await store.read(ledger, 0, head.size);
      expect(receipts).toHaveLength(head.size);
      let prev = genesisHash(ledger);
      for (const [i, r] of receipts.entries()) {
        expect(r.seq).toBe(i);
        expect(r.prev_hash).toBe(prev);
        expect(receiptHash(r)).toBe(r.hash);
        prev = r.hash;
      }
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
