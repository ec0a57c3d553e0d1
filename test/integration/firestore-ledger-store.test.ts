/**
 * The Firestore ledger store against the real Firestore emulator, beyond the
 * contract (test/contract/firestore-ledger-store.test.ts): deadlines against an
 * endpoint that accepts connections and never answers; and a real emulator
 * process suspended with SIGSTOP and resumed with SIGCONT.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { createFirestoreClient, createFirestoreLedgerStore } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { StoreUnavailableError } from "../../src/ports/index.ts";
import { chain } from "../contract/ledger-store.ts";
import { requireFirestoreEmulator, startPrivateFirestoreEmulator } from "../support/emulators.ts";
import { twoWritersNeverFork } from "../support/two-writers.ts";

const emulator = requireFirestoreEmulator();

/** A TCP server that accepts connections and never answers: a hung Firestore. */
async function blackHole(): Promise<{ host: string; close(): void }> {
  const server: Server = createServer((socket) => socket.on("error", () => {}));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { host: `127.0.0.1:${port}`, close: () => server.close() };
}

describe("Firestore store deadlines", () => {
  it("fails a probe and an append against a hung endpoint within their deadlines, not the client's minutes", async () => {
    const hole = await blackHole();
    const firestore = createFirestoreClient({ projectId: emulator.projectId, host: hole.host });
    const store = createFirestoreLedgerStore({ firestore, callTimeoutMs: 800 });
    try {
      let t0 = performance.now();
      const probed = await store.probe(500).catch((e: unknown) => e);
      expect(probed).toBeInstanceOf(StoreUnavailableError);
      expect((probed as StoreUnavailableError).code).toBe("LEDGER_STORE_TIMEOUT");
      expect(performance.now() - t0).toBeLessThan(1500);
      t0 = performance.now();
      const ledger = "hung" as LedgerId;
      const appended = await store.append({ ledger, expectedSeq: 0, receipts: chain(ledger, 2) }).catch((e: unknown) => e);
      expect(appended).toBeInstanceOf(StoreUnavailableError);
      expect(performance.now() - t0).toBeLessThan(1800);
    } finally {
      await store.close();
      hole.close();
    }
  });
});

describe("Firestore store on a suspended emulator", () => {
  const started: { stop(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const s of started) await s.stop();
  });

  it("fails within the probe's deadline while the emulator is stopped (SIGSTOP), and answers again once it continues", async () => {
    const own = await startPrivateFirestoreEmulator();
    started.push(own);
    const firestore = createFirestoreClient({ projectId: emulator.projectId, host: own.host });
    const store = createFirestoreLedgerStore({ firestore, callTimeoutMs: 1000 });
    try {
      await store.probe(2000);
      const ledger = "stopped" as LedgerId;
      const receipts = chain(ledger, 4);
      await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 2) });
      process.kill(own.pid, "SIGSTOP");
      const t0 = performance.now();
      await expect(store.probe(1000)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(performance.now() - t0).toBeLessThan(1600);
      const t1 = performance.now();
      await expect(store.append({ ledger, expectedSeq: 2, receipts: receipts.slice(2) })).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(performance.now() - t1).toBeLessThan(1600);
      process.kill(own.pid, "SIGCONT");
      // The append that timed out on our side may land once the emulator runs again: a retry is then a success, not a conflict.
      let recovered = false;
      for (let i = 0; i < 50 && !recovered; i++) {
        recovered = await store.probe(1000).then(() => true, () => false);
      }
      expect(recovered).toBe(true);
      await store.append({ ledger, expectedSeq: 2, receipts: receipts.slice(2) });
      expect(await store.read(ledger, 0, 10)).toEqual(receipts);
    } finally {
      await store.close();
    }
  }, 90_000);
});

describe("two runtimes on one Firestore", () => {
  it("never fork a ledger: one wins each append, the other rebuilds and goes on", async () => {
    const collectionPrefix = `tw${randomUUID().slice(0, 8)}-`;
    const a = createFirestoreLedgerStore({ firestore: createFirestoreClient({ projectId: emulator.projectId }), collectionPrefix });
    const b = createFirestoreLedgerStore({ firestore: createFirestoreClient({ projectId: emulator.projectId }), collectionPrefix });
    try {
      await expect(twoWritersNeverFork(a, b, "shared-fs" as LedgerId)).resolves.toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
});
