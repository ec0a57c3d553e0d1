/**
 * The embedded LedgerStore: SQLite through Node's built-in `node:sqlite`.
 *
 * - WAL journal. `synchronous = FULL` by default: a commit is fsynced before
 *   `append` resolves, so an acknowledged receipt survives a killed process
 *   and a power cut. (`NORMAL` in WAL survives a killed process but may lose
 *   the last commits on power loss; it is an option, not the default.)
 * - Group commit: every append that arrives while the event loop turns (or
 *   while a commit runs) joins one transaction: one fsync for all of them.
 *   Each batch has its own SAVEPOINT, so a conflicting batch is rolled back
 *   alone and the others commit.
 * - Receipts are stored as the JSON text they were given, with their hash in
 *   a column of its own (Merkle trees and proofs read hashes without parsing).
 * - A locked or failing database becomes `StoreUnavailableError`, never a raw
 *   SQLite error, so the runtime can go to safe mode.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { genesisHash } from "../../ledger/hash.ts";
import type { LedgerId, Receipt } from "../../ledger/receipt.ts";
import {
  LedgerStoreErrorCode,
  SeqConflictError,
  StoreUnavailableError,
  type AppendBatch,
  type LedgerHead,
  type LedgerStore,
  type StoredCheckpoint,
  type StoredSnapshot,
} from "../../ports.ts";

export interface SqliteLedgerStoreOptions {
  /** Database file (created with its directory). */
  readonly path: string;
  /** How long a write waits for a lock held by another connection before the store counts as unavailable. */
  readonly busyTimeoutMs?: number;
  /** `full` (default): durable against power loss; `normal`: durable against a killed process. */
  readonly synchronous?: "full" | "normal";
}

/** SQLite result codes that mean "the store is not usable now", not "this request is wrong". */
const UNAVAILABLE = new Set([5 /* BUSY */, 6 /* LOCKED */, 10 /* IOERR */, 13 /* FULL */, 14 /* CANTOPEN */, 11 /* CORRUPT */, 26 /* NOTADB */, 8 /* READONLY */]);

function translate(err: unknown, what: string): Error {
  const e = err as { errcode?: number; errstr?: string; message?: string };
  const primary = typeof e.errcode === "number" ? e.errcode & 0xff : undefined;
  if (primary !== undefined && UNAVAILABLE.has(primary)) {
    return new StoreUnavailableError(`sqlite ${what} failed: ${e.errstr ?? e.message ?? "unavailable"}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

class InvalidBatchError extends Error {
  readonly code = LedgerStoreErrorCode.invalid;
  constructor(message: string) {
    super(message);
    this.name = "InvalidBatchError";
  }
}

interface Pending {
  readonly batches: readonly AppendBatch[];
  readonly resolve: (outcomes: (SeqConflictError | null)[]) => void;
  readonly reject: (err: Error) => void;
}

function validate(b: AppendBatch): void {
  if (!Number.isSafeInteger(b.expectedSeq) || b.expectedSeq < 0) throw new InvalidBatchError(`expectedSeq ${b.expectedSeq} is not a non-negative integer`);
  if (b.receipts.length === 0 && b.checkpoint === undefined) throw new InvalidBatchError("a batch needs receipts or a checkpoint");
  for (let i = 0; i < b.receipts.length; i++) {
    const r = b.receipts[i]!;
    if (r.ledger !== b.ledger) throw new InvalidBatchError(`receipt ${i} belongs to ledger ${r.ledger}, not ${b.ledger}`);
    if (r.seq !== b.expectedSeq + i) throw new InvalidBatchError(`receipt ${i} has seq ${r.seq}; expected ${b.expectedSeq + i} (seqs must be contiguous)`);
  }
  if (b.checkpoint !== undefined && b.checkpoint.size !== b.expectedSeq + b.receipts.length) {
    throw new InvalidBatchError(`checkpoint covers ${b.checkpoint.size} receipts but the ledger will have ${b.expectedSeq + b.receipts.length}`);
  }
}

export function createSqliteLedgerStore(options: SqliteLedgerStoreOptions): LedgerStore {
  mkdirSync(dirname(options.path), { recursive: true });
  const busy = options.busyTimeoutMs ?? 1000;
  const open = (timeout: number) => {
    const db = new DatabaseSync(options.path, { timeout });
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}; PRAGMA foreign_keys = OFF;`);
    return db;
  };
  let db: DatabaseSync;
  try {
    db = open(busy);
    db.exec(`
      CREATE TABLE IF NOT EXISTS receipts (
        ledger TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (ledger, seq)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS ledgers (ledger TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS checkpoints (
        ledger TEXT NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL,
        PRIMARY KEY (ledger, size)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS snapshots (
        ledger TEXT PRIMARY KEY, seq INTEGER NOT NULL, last_hash TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
    `);
  } catch (err) {
    throw translate(err, "open");
  }

  const st = {
    size: db.prepare("SELECT seq FROM receipts WHERE ledger = ? ORDER BY seq DESC LIMIT 1"),
    last: db.prepare("SELECT seq, hash, body FROM receipts WHERE ledger = ? ORDER BY seq DESC LIMIT 1"),
    insert: db.prepare("INSERT INTO receipts (ledger, seq, hash, body) VALUES (?, ?, ?, ?)"),
    ledger: db.prepare("INSERT OR IGNORE INTO ledgers (ledger) VALUES (?)"),
    checkpoint: db.prepare("INSERT OR REPLACE INTO checkpoints (ledger, size, root, note) VALUES (?, ?, ?, ?)"),
    latestCheckpoint: db.prepare("SELECT size, root, note FROM checkpoints WHERE ledger = ? ORDER BY size DESC LIMIT 1"),
    read: db.prepare("SELECT body FROM receipts WHERE ledger = ? AND seq >= ? ORDER BY seq LIMIT ?"),
    hashes: db.prepare("SELECT hash FROM receipts WHERE ledger = ? AND seq >= ? AND seq < ? ORDER BY seq"),
    ledgers: db.prepare("SELECT ledger FROM ledgers ORDER BY ledger"),
    putSnapshot: db.prepare("INSERT OR REPLACE INTO snapshots (ledger, seq, last_hash, version, state) VALUES (?, ?, ?, ?, ?)"),
    getSnapshot: db.prepare("SELECT seq, last_hash, version, state FROM snapshots WHERE ledger = ?"),
  } satisfies Record<string, StatementSync>;
  st.hashes.setReturnArrays(true);
  st.read.setReturnArrays(true);

  let probeDb: DatabaseSync | null = null;
  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;
  let committing: Promise<void> = Promise.resolve();

  const currentSize = (ledger: string): number => {
    const row = st.size.get(ledger) as { seq: number } | undefined;
    return row === undefined ? 0 : row.seq + 1;
  };

  /** One transaction for everything queued; a SAVEPOINT per batch. */
  const commit = (): void => {
    scheduled = false;
    const work = queue;
    queue = [];
    if (work.length === 0) return;
    const outcomes = work.map((p) => Array.from<SeqConflictError | null>({ length: p.batches.length }).fill(null));
    try {
      db.exec("BEGIN IMMEDIATE");
      try {
        for (const [w, pending] of work.entries()) {
          for (const [i, b] of pending.batches.entries()) {
            const size = currentSize(b.ledger);
            if (size !== b.expectedSeq) {
              outcomes[w]![i] = new SeqConflictError(b.ledger, b.expectedSeq, size);
              continue;
            }
            db.exec("SAVEPOINT batch");
            try {
              for (const r of b.receipts) st.insert.run(b.ledger, r.seq, r.hash, JSON.stringify(r));
              if (b.receipts.length > 0 && b.expectedSeq === 0) st.ledger.run(b.ledger);
              if (b.checkpoint) st.checkpoint.run(b.ledger, b.checkpoint.size, b.checkpoint.root, b.checkpoint.note);
              db.exec("RELEASE batch");
            } catch (err) {
              db.exec("ROLLBACK TO batch; RELEASE batch");
              const e = err as { errcode?: number };
              // A row that exists already: another connection wrote this seq first.
              if (typeof e.errcode === "number" && (e.errcode & 0xff) === 19) outcomes[w]![i] = new SeqConflictError(b.ledger, b.expectedSeq, currentSize(b.ledger));
              else throw err;
            }
          }
        }
        db.exec("COMMIT");
      } catch (err) {
        try {
          db.exec("ROLLBACK");
        } catch {
          // the transaction is gone already
        }
        throw err;
      }
    } catch (err) {
      const e = translate(err, "append");
      for (const p of work) p.reject(e);
      return;
    }
    for (const [w, p] of work.entries()) p.resolve(outcomes[w]!);
  };

  const enqueue = (batches: readonly AppendBatch[]): Promise<(SeqConflictError | null)[]> => {
    if (closed) return Promise.reject(new StoreUnavailableError("the ledger store is closed"));
    try {
      for (const b of batches) validate(b);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      queue.push({ batches, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        // Let every append of this turn of the event loop join the commit.
        const run = committing.then(() => new Promise<void>((r) => setImmediate(() => { commit(); r(); })));
        committing = run;
      }
    });
  };

  const guard = <T>(what: string, fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(translate(err, what));
    }
  };

  return {
    async append(batch) {
      const [outcome] = await enqueue([batch]);
      if (outcome) throw outcome;
    },
    appendMany(batches) {
      if (batches.length === 0) return Promise.resolve([]);
      return enqueue(batches);
    },
    read(ledger, from, limit) {
      return guard("read", () => (st.read.all(ledger, from, limit) as unknown as [string][]).map(([body]) => JSON.parse(body) as Receipt));
    },
    readHashes(ledger, from = 0, to = Number.MAX_SAFE_INTEGER) {
      return guard("readHashes", () => (st.hashes.all(ledger, from, to) as unknown as [string][]).map(([h]) => h));
    },
    head(ledger): Promise<LedgerHead> {
      return guard("head", () => {
        const row = st.last.get(ledger) as { seq: number; hash: string; body: string } | undefined;
        if (row === undefined) return { size: 0, lastHash: genesisHash(ledger), lastTimestamp: null };
        return { size: row.seq + 1, lastHash: row.hash, lastTimestamp: (JSON.parse(row.body) as Receipt).timestamp };
      });
    },
    latestCheckpoint(ledger): Promise<StoredCheckpoint | null> {
      return guard("latestCheckpoint", () => {
        const row = st.latestCheckpoint.get(ledger) as { size: number; root: string; note: string } | undefined;
        return row === undefined ? null : { size: row.size, root: row.root, note: row.note };
      });
    },
    listLedgers() {
      return guard("listLedgers", () => (st.ledgers.all() as { ledger: string }[]).map((r) => r.ledger as LedgerId));
    },
    putSnapshot(ledger, s) {
      return guard("putSnapshot", () => {
        st.putSnapshot.run(ledger, s.seq, s.lastHash, s.version, JSON.stringify(s.state));
      });
    },
    getSnapshot(ledger): Promise<StoredSnapshot | null> {
      return guard("getSnapshot", () => {
        const row = st.getSnapshot.get(ledger) as { seq: number; last_hash: string; version: string; state: string } | undefined;
        return row === undefined ? null : { seq: row.seq, lastHash: row.last_hash, version: row.version, state: JSON.parse(row.state) as unknown };
      });
    },
    probe(deadlineMs) {
      // A connection of its own whose lock wait is the probe's deadline: a database held
      // locked by another process fails the probe in `deadlineMs`, not in the writer's timeout.
      const started = Date.now();
      return guard("probe", () => {
        probeDb ??= open(Math.max(1, deadlineMs));
        probeDb.exec("BEGIN IMMEDIATE");
        try {
          probeDb.prepare("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)").run(started);
          probeDb.exec("COMMIT");
        } catch (err) {
          try {
            probeDb.exec("ROLLBACK");
          } catch {
            // nothing to roll back
          }
          throw err;
        }
        const row = probeDb.prepare("SELECT at FROM probe WHERE id = 1").get() as { at: number } | undefined;
        if (row?.at !== started) throw new StoreUnavailableError("probe read did not return the probe write");
        if (Date.now() - started > deadlineMs) throw new StoreUnavailableError(`probe took longer than ${deadlineMs} ms`, { timeout: true });
      });
    },
    async close() {
      closed = true;
      await committing;
      if (queue.length > 0) commit();
      probeDb?.close();
      db.close();
    },
  };
}
