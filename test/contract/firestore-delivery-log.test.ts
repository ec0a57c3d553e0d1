/** The Firestore delivery log against the real Firestore emulator: the same DeliveryLog contract as the embedded one, unchanged. */
import { randomUUID } from "node:crypto";
import { createFirestoreDeliveryLog } from "../../src/adapters/gcp/firestore-delivery-log.ts";
import { createFirestoreClient } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";
import { describeDeliveryLogContract } from "./delivery-log.ts";

const emulator = requireFirestoreEmulator();

describeDeliveryLogContract("Firestore (emulator)", async ({ takeoverAfterMs }) => {
  // Collections of its own: runs and tests never see each other's data.
  const collectionPrefix = `t${randomUUID().slice(0, 8)}-`;
  const clients = [createFirestoreClient({ projectId: emulator.projectId })];
  const log = createFirestoreDeliveryLog({ firestore: clients[0]!, collectionPrefix, takeoverAfterMs });
  return {
    log,
    second: async () => {
      const client = createFirestoreClient({ projectId: emulator.projectId });
      clients.push(client);
      return createFirestoreDeliveryLog({ firestore: client, collectionPrefix, takeoverAfterMs });
    },
    async cleanup() {
      await log.close();
      await Promise.all(clients.map((c) => c.terminate()));
    },
  };
});
