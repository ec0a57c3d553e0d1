import { createMemoryLedgerStorage, createMemoryLedgerStore } from "../../src/adapters/memory/memory-ledger-store.ts";
import { describeLedgerStoreContract } from "./ledger-store.ts";

describeLedgerStoreContract("memory", async () => {
  const storage = createMemoryLedgerStorage();
  return {
    store: createMemoryLedgerStore(storage),
    second: async () => createMemoryLedgerStore(storage),
    cleanup: async () => {},
  };
});
