import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import { describeLedgerStoreContract } from "./ledger-store.ts";

describeLedgerStoreContract("embedded SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "governor-sqlite-"));
  const path = join(dir, "ledger.sqlite");
  const store = createSqliteLedgerStore({ path });
  return {
    store,
    second: async () => createSqliteLedgerStore({ path }),
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
