/**
 * The Firestore tenant token store against the real Firestore emulator: the
 * same contract suite as the embedded store, and a deadline against an
 * endpoint that never answers.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { createFirestoreClient } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import { createFirestoreTokenStore } from "../../src/adapters/gcp/firestore-token-store.ts";
import { StoreUnavailableError } from "../../src/ports.ts";
import { describeTenantTokenStoreContract } from "../contract/tenant-token-store.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";

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

describe("Firestore tenant token store deadlines", () => {
  it("fails a call against a hung endpoint within its deadline", async () => {
    const server: Server = createServer((socket) => socket.on("error", () => {}));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const firestore = createFirestoreClient({ projectId: emulator.projectId, host });
    const store = createFirestoreTokenStore({ firestore, callTimeoutMs: 500 });
    try {
      const t0 = performance.now();
      const err = await store.list("hung").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).code).toBe("LEDGER_STORE_TIMEOUT");
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally {
      await store.close();
      await Promise.race([firestore.terminate().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
      server.close();
    }
  });
});
