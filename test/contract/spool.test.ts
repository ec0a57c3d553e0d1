import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { createMemorySpool, type MemorySpoolStorage } from "../../src/adapters/memory/memory-spool.ts";
import { FileSpool } from "../../src/log/spool.ts";
import { chain } from "./ledger-store.ts";
import { describeSpoolContract } from "./spool.ts";

describeSpoolContract("memory", async () => {
  const storage: MemorySpoolStorage = { entries: [] };
  return { open: () => createMemorySpool(storage), cleanup: async () => {} };
});

describeSpoolContract("a local file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "governor-spool-"));
  const path = join(dir, "spool", "receipts.jsonl");
  return { open: () => new FileSpool(path), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe("a local file spool", () => {
  it("leaves out a last line torn by a crash (never acknowledged), and refuses a broken line before it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "governor-spool-"));
    try {
      const path = join(dir, "receipts.jsonl");
      const [receipt] = chain("acme", 1);
      const spool = new FileSpool(path);
      await spool.append([{ ledger: receipt!.ledger as LedgerId, receipt: receipt! }]);
      await spool.close();
      appendFileSync(path, '{"ledger":"acme","rece');
      expect(await new FileSpool(path).readAll()).toEqual([{ ledger: receipt!.ledger, receipt }]);
      appendFileSync(path, "\n{}\n");
      await expect(new FileSpool(path).readAll()).rejects.toThrow(/line 2 is not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
