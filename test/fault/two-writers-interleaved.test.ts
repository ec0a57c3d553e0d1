/**
 * Two runtimes (ledger writer and governor host each) on one ledger store,
 * taking signals for the same tenant, with each side's commits held back a
 * random while so that the commits one side has in flight interleave with
 * the other's: 0 forks, every accepted signal started and ended once, and
 * the tenant's ledger one chain (checked by `twoWritersNeverFork`). Both
 * stores: two SQLite connections on one file (the data-directory lock
 * bypassed), two Firestore clients on one emulator.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import { createFirestoreClient, createFirestoreLedgerStore } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";
import { twoWritersNeverFork, type TwoWritersReport } from "../support/two-writers.ts";

const count = (codes: readonly string[] = []) => Object.fromEntries([...new Set(codes)].map((c) => [c, codes.filter((x) => x === c).length]));
const print = (what: string) => (r: TwoWritersReport) =>
  process.stdout.write(`${what}: ${r.receipts} receipts; a fenced ${JSON.stringify(count(r.fenced["a"]))}, b fenced ${JSON.stringify(count(r.fenced["b"]))}\n`);

describe("two runtimes with interleaved commits in flight", () => {
  it("embedded SQLite: never fork", async () => {
    const dir = mkdtempSync(join(tmpdir(), "governor-interleaved-"));
    const path = join(dir, "ledger.sqlite");
    const a = createSqliteLedgerStore({ path });
    const b = createSqliteLedgerStore({ path });
    try {
      await expect(twoWritersNeverFork(a, b, "interleaved-sqlite" as LedgerId, { signals: 60, interleaveMs: 15, report: print("sqlite") })).resolves.toBeUndefined();
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("Firestore (emulator): never fork", async () => {
    const emulator = requireFirestoreEmulator();
    const collectionPrefix = `il${randomUUID().slice(0, 8)}-`;
    const a = createFirestoreLedgerStore({ firestore: createFirestoreClient({ projectId: emulator.projectId }), collectionPrefix });
    const b = createFirestoreLedgerStore({ firestore: createFirestoreClient({ projectId: emulator.projectId }), collectionPrefix });
    try {
      await expect(twoWritersNeverFork(a, b, "interleaved-fs" as LedgerId, { signals: 60, interleaveMs: 15, report: print("firestore") })).resolves.toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);
});
