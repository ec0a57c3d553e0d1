import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { twoWritersNeverFork } from "../support/two-writers.ts";

describe("two runtimes on one embedded store", () => {
  it("never fork a ledger: one wins each append, the other rebuilds and goes on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "governor-two-writers-"));
    const path = join(dir, "ledger.sqlite");
    const a = createSqliteLedgerStore({ path });
    const b = createSqliteLedgerStore({ path });
    try {
      await expect(twoWritersNeverFork(a, b, "shared-1" as LedgerId)).resolves.toBeUndefined();
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
