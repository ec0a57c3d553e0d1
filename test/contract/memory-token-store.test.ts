import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.ts";
import { describeTenantTokenStoreContract } from "./tenant-token-store.ts";

// A runtime built by hand keeps its tokens in memory: the same contract, one connection (a reopen is the same store).
describeTenantTokenStoreContract("in memory", async () => {
  const store = createMemoryTokenStore();
  return { store, reopen: async () => store, cleanup: () => store.close() };
});
