/**
 * The Firestore tenant token store beyond the contract
 * (test/contract/firestore-token-store.test.ts): a deadline against an
 * endpoint that never answers.
 */
import { createServer, type Server, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { createFirestoreClient } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import { createFirestoreTokenStore } from "../../src/adapters/gcp/firestore-token-store.ts";
import { StoreUnavailableError } from "../../src/ports/index.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";

const emulator = requireFirestoreEmulator();

describe("Firestore tenant token store deadlines", () => {
  it("fails a call against a hung endpoint within its deadline", async () => {
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
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
      for (const socket of sockets) socket.destroy();
      server.close();
      // Not awaited: a client whose endpoint hung takes seconds to terminate, and nothing here depends on it having done so.
      void firestore.terminate().catch(() => {});
    }
  });
});
