/**
 * Two processes appending to one ledger on one store directly (no
 * data-directory lock, no runtime), each with several commits in flight: the
 * race that forked ledgers. A writer's first commit loses to the other's,
 * and its next one, sent before it knew, finds the ledger at the size it
 * expected. The store refuses it, because it does not link to the receipt
 * stored before it. The ledger stays one chain: 0 forks.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import { createFirestoreClient, createFirestoreLedgerStore } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import { genesisHash, receiptHash } from "../../src/ledger/hash.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import type { LedgerStore } from "../../src/ports/index.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";

interface Counts {
  landed: number;
  conflicts: number;
  chainConflicts: number;
  unavailable: number;
}

/**
 * Starts one appender child; it opens its store, says "ready" and waits for "go" on stdin, so that two
 * of them race from the same moment instead of one finishing before the other has started.
 */
function appender(args: string[]): { ready: Promise<void>; go(): void; done: Promise<Counts> } {
  const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures/pipelined-appender.ts"), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    if (out.startsWith("ready\n")) ready();
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const done = new Promise<Counts>((resolve, reject) =>
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").at(-1)!) as Counts) : reject(new Error(`appender ${args[2]} exited ${code}: ${err.slice(-2000)}`)))),
  );
  // A child that dies before it is ready must fail the test, not hang it.
  void done.catch(() => ready());
  return { ready: isReady, go: () => child.stdin.end("go\n"), done };
}

/** Two appenders, released together once both are ready. */
async function race(argsA: string[], argsB: string[]): Promise<[Counts, Counts]> {
  const a = appender(argsA);
  const b = appender(argsB);
  await Promise.all([a.ready, b.ready]);
  a.go();
  b.go();
  return Promise.all([a.done, b.done]);
}

/** Reads the whole ledger and counts the receipts that do not link to the one before (forks). */
async function forksIn(store: LedgerStore, ledger: LedgerId): Promise<{ size: number; forks: number }> {
  let prev = genesisHash(ledger);
  let forks = 0;
  let size = 0;
  for (let from = 0; ; from += 1000) {
    const page = await store.read(ledger, from, 1000);
    for (const r of page) {
      expect(r.seq).toBe(size);
      expect(receiptHash(r)).toBe(r.hash);
      if (r.prev_hash !== prev) forks++;
      prev = r.hash;
      size++;
    }
    if (page.length < 1000) break;
  }
  return { size, forks };
}

/** Both writers ran their rounds, each lost races, and the second commit of a lost pair was refused for its link at least once. */
function expectRaces(a: Counts, b: Counts): void {
  process.stdout.write(`pipelined writers: a ${JSON.stringify(a)}, b ${JSON.stringify(b)}\n`);
  expect(a.landed).toBeGreaterThan(0);
  expect(b.landed).toBeGreaterThan(0);
  expect(a.conflicts + b.conflicts).toBeGreaterThan(0);
  expect(a.chainConflicts + b.chainConflicts).toBeGreaterThan(0);
}

/** The ledger as a store of its own reads it after both writers (the store is closed after). */
async function readBack(store: LedgerStore, ledger: LedgerId): Promise<{ size: number; forks: number }> {
  try {
    return await forksIn(store, ledger);
  } finally {
    await store.close();
  }
}

describe("two processes with commits in flight on one ledger", () => {
  it("embedded SQLite: 0 forks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "governor-pipelined-"));
    const path = join(dir, "ledger.sqlite");
    const ledger = "shared" as LedgerId;
    try {
      const [a, b] = await race(["sqlite", path, "a", ledger, "300", "3"], ["sqlite", path, "b", ledger, "300", "3"]);
      // No fork, and every receipt either writer saw land is there.
      expect(await readBack(createSqliteLedgerStore({ path }), ledger)).toEqual({ size: a.landed + b.landed, forks: 0 });
      expectRaces(a, b);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("Firestore (emulator): 0 forks", async () => {
    requireFirestoreEmulator();
    const prefix = `pl${randomUUID().slice(0, 8)}-`;
    const ledger = "shared" as LedgerId;
    const [a, b] = await race(["firestore", prefix, "a", ledger, "60", "3"], ["firestore", prefix, "b", ledger, "60", "3"]);
    expect(await readBack(createFirestoreLedgerStore({ firestore: createFirestoreClient(), collectionPrefix: prefix }), ledger)).toEqual({ size: a.landed + b.landed, forks: 0 });
    expectRaces(a, b);
  }, 120_000);
});
