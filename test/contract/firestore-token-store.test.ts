/** The TenantTokenStore contract on the Firestore emulator. */
import { randomUUID } from "node:crypto";
import { createFirestoreClient } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import { createFirestoreTokenStore } from "../../src/adapters/gcp/firestore-token-store.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";
import { describeTenantTokenStoreContract } from "./tenant-token-store.ts";

const emulator = requireFirestoreEmulator();

describeTenantTokenStoreContract("Firestore (emulator)", async () => {
  // Collections of its own: runs and tests never see each other's tokens.
  const collectionPrefix = `t${randomUUID().slice(0, 8)}-`;
  const clients = [createFirestoreClient({ projectId: emulator.projectId })];
  const store = createFirestoreTokenStore({ firestore: clients[0]!, collectionPrefix });
  return {
    store,
    reopen: async () => {
      const client = createFirestoreClient({ projectId: emulator.projectId });
      clients.push(client);
      return createFirestoreTokenStore({ firestore: client, collectionPrefix });
    },
    async cleanup() {
      await store.close();
      await Promise.all(clients.map((c) => c.terminate()));
    },
  };
});
