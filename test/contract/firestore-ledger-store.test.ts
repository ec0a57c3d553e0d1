/** The LedgerStore contract on the Firestore emulator. */
import { randomUUID } from "node:crypto";
import { createFirestoreClient, createFirestoreLedgerStore } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";
import { describeLedgerStoreContract } from "./ledger-store.ts";

const emulator = requireFirestoreEmulator();

describeLedgerStoreContract("Firestore (emulator)", async () => {
  // Every store under test gets collections of its own: runs and tests never see each other's data.
  const collectionPrefix = `t${randomUUID().slice(0, 8)}-`;
  const store = createFirestoreLedgerStore({ firestore: createFirestoreClient({ projectId: emulator.projectId }), collectionPrefix });
  return {
    store,
    second: async () => createFirestoreLedgerStore({ firestore: createFirestoreClient({ projectId: emulator.projectId }), collectionPrefix }),
    cleanup: () => store.close(),
  };
});
