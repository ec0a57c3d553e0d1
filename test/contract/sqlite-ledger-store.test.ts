import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import { StoreUnavailableError } from "../../src/ports/index.ts";
import { holdWriteLock } from "../support/sqlite-lock.ts";
import { chain, describeLedgerStoreContract } from "./ledger-store.ts";

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

describe("embedded SQLite store", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "governor-sqlite-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports a database another process holds locked as unavailable, within the probe's deadline, and recovers", async () => {
    const path = join(dir, "ledger.sqlite");
    const store = createSqliteLedgerStore({ path, busyTimeoutMs: 200 });
    const ledger = "locked" as LedgerId;
    const receipts = chain(ledger, 4);
    await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 2) });
    const lock = await holdWriteLock(path);
    try {
      const t0 = performance.now();
      const probed = await store.probe(300).catch((e: unknown) => e);
      const elapsed = performance.now() - t0;
      expect(probed).toBeInstanceOf(StoreUnavailableError);
      expect((probed as StoreUnavailableError).retryable).toBe(true);
      expect(elapsed).toBeLessThan(1000);

      const appended = await store.append({ ledger, expectedSeq: 2, receipts: receipts.slice(2) }).catch((e: unknown) => e);
      expect(appended).toBeInstanceOf(StoreUnavailableError);
      expect(appended).toMatchObject({ code: "LEDGER_STORE_UNAVAILABLE" });
      expect((appended as Error).message).not.toMatch(/\n\s+at /);
    } finally {
      await lock.release();
    }
    await expect(store.probe(1000)).resolves.toBeUndefined();
    await store.append({ ledger, expectedSeq: 2, receipts: receipts.slice(2) });
    expect(await store.read(ledger, 0, 10)).toEqual(receipts);
    await store.close();
  }, 20_000);

  it("keeps what it acknowledged across close and reopen, in either synchronous mode", async () => {
    const path = join(dir, "ledger.sqlite");
    const ledger = "reopen" as LedgerId;
    const receipts = chain(ledger, 6);
    const first = createSqliteLedgerStore({ path, synchronous: "normal" });
    await first.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 3), checkpoint: { size: 3, root: "cm9vdA==", note: "n\n" } });
    await first.close();
    await expect(first.head(ledger)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(first.append({ ledger, expectedSeq: 3, receipts: receipts.slice(3) })).rejects.toBeInstanceOf(StoreUnavailableError);

    const second = createSqliteLedgerStore({ path });
    expect(await second.head(ledger)).toEqual({ size: 3, lastHash: receipts[2]!.hash, lastTimestamp: receipts[2]!.timestamp });
    expect(await second.latestCheckpoint(ledger)).toEqual({ size: 3, root: "cm9vdA==", note: "n\n" });
    await second.append({ ledger, expectedSeq: 3, receipts: receipts.slice(3) });
    expect(await second.read(ledger, 0, 10)).toEqual(receipts);
    await second.close();
  });

  it("reports a file that is not a database as unavailable, and says so to its logger", async () => {
    const path = join(dir, "not-a-database.sqlite");
    writeFileSync(path, "this is not an SQLite database, just text long enough to have a header".repeat(20));
    const logged: { obj: object; msg: string }[] = [];
    const store = createSqliteLedgerStore({ path, logger: { error: (obj, msg) => logged.push({ obj, msg }) } });
    await expect(store.head("x" as LedgerId)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged[0]!.obj).toMatchObject({ code: "LEDGER_STORE_UNAVAILABLE", path });
    await store.close();
  });

  it("reads the hashes of a ledger of more than a million receipts, in order, whole and in ranges", async () => {
    const store = createSqliteLedgerStore({ path: join(dir, "ledger.sqlite") });
    const ledger = "big" as LedgerId;
    const [template] = chain(ledger, 1) as [Receipt];
    const size = 1_000_003;
    const expected: string[] = [];
    for (let from = 0; from < size; from += 50_000) {
      const batch: Receipt[] = [];
      for (let seq = from; seq < Math.min(size, from + 50_000); seq++) {
        const hash = createHash("sha256").update(`${seq}`).digest("hex");
        batch.push({ ...template, seq, prev_hash: expected[seq - 1] ?? template.prev_hash, hash });
        expected.push(hash);
      }
      await store.append({ ledger, expectedSeq: from, receipts: batch });
    }
    const all = await store.readHashes(ledger);
    expect(all.length).toBe(size);
    expect(all.every((h, i) => h === expected[i])).toBe(true);
    expect(await store.readHashes(ledger, 999_998, 1_000_002)).toEqual(expected.slice(999_998, 1_000_002));
    expect(await store.readHashes(ledger, 1_000_001)).toEqual(expected.slice(1_000_001));
    expect(await store.readHashes(ledger, size)).toEqual([]);
    await store.close();
  }, 60_000);
});
