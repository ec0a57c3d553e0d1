/**
 * The embedded delivery log: the DeliveryLog contract on a real SQLite file
 * (a second connection is another process's, or this one's after a
 * restart), beside the ledger store's tables in the same database; and a
 * database another process holds locked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSqliteDeliveryLog } from "../../src/adapters/embedded/sqlite-delivery-log.ts";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { StoreUnavailableError } from "../../src/ports/index.ts";
import { holdWriteLock } from "../support/sqlite-lock.ts";
import { describeDeliveryLogContract } from "./delivery-log.ts";
import { chain } from "./ledger-store.ts";

describeDeliveryLogContract("embedded SQLite", async ({ takeoverAfterMs }) => {
  const dir = mkdtempSync(join(tmpdir(), "governor-deliveries-"));
  const path = join(dir, "ledger.sqlite");
  const log = createSqliteDeliveryLog({ path, takeoverAfterMs });
  return {
    log,
    second: async () => createSqliteDeliveryLog({ path, takeoverAfterMs }),
    async cleanup() {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("embedded SQLite delivery log", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "governor-deliveries-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("shares the ledger's database with the ledger store, each in tables of its own", async () => {
    const path = join(dir, "ledger.sqlite");
    const store = createSqliteLedgerStore({ path });
    const ledger = "shared" as LedgerId;
    const receipts = chain(ledger, 3);
    await store.append({ ledger, expectedSeq: 0, receipts: receipts.slice(0, 2) });
    const log = createSqliteDeliveryLog({ path });
    await log.claim({ id: "webhook:shared", owner: "a", now: 1 });
    await log.complete("webhook:shared", "a", { status: 200, body: { ok: true } }, 2);
    await store.append({ ledger, expectedSeq: 2, receipts: receipts.slice(2) });
    expect(await store.read(ledger, 0, 10)).toEqual(receipts);
    expect((await log.get("webhook:shared"))?.outcome).toEqual({ status: 200, body: { ok: true } });
    await log.close();
    await store.close();
  });

  it("reports a database another process holds locked as unavailable within its busy timeout, and works once it is released", async () => {
    const path = join(dir, "ledger.sqlite");
    const log = createSqliteDeliveryLog({ path, busyTimeoutMs: 100 });
    await log.claim({ id: "webhook:before", owner: "a", now: 1 });
    const lock = await holdWriteLock(path);
    try {
      const t0 = performance.now();
      const claimed = await log.claim({ id: "webhook:locked", owner: "a", now: 2 }).catch((e: unknown) => e);
      expect(claimed).toBeInstanceOf(StoreUnavailableError);
      expect((claimed as StoreUnavailableError).retryable).toBe(true);
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      await lock.release();
    }
    expect(await log.claim({ id: "webhook:locked", owner: "a", now: 3 })).toEqual({ kind: "claimed", retaken: false, mark: null });
    await log.close();
  }, 20_000);
});
