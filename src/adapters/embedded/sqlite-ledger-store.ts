/**
 * The embedded LedgerStore: SQLite through Node's built-in `node:sqlite`, on
 * a worker thread of its own (`sqlite-worker.js`).
 *
 * - WAL journal. `synchronous = FULL` by default: a commit is fsynced before
 *   `append` resolves, so an acknowledged receipt survives a killed process
 *   and a power cut. (`NORMAL` in WAL survives a killed process but may lose
 *   the last commits on power loss; it is an option, not the default.)
 * - Group commit: `appendMany` (the ledger writer's group of every ledger's
 *   batches) goes to the worker at once as one message; single `append`s made
 *   in one turn of the event loop are grouped into one message. Each message
 *   is one transaction with one fsync; a SAVEPOINT per batch keeps each batch
 *   all-or-nothing on its own.
 * - The worker owns the connections: SQLite's synchronous calls, and waiting
 *   on a lock another process holds, never block the runtime's event loop.
 *   Every call but `append` has a deadline here, so a stuck worker is reported
 *   as `StoreUnavailableError` in time (the health probe relies on it).
 * - Receipts are stored as the JSON text they were given, with their hash in
 *   a column of its own (Merkle trees and proofs read hashes without parsing).
 *   A rowid table with a unique (ledger, seq) index: receipts are a few
 *   hundred bytes, and a WITHOUT ROWID table of rows that size inserts about
 *   five times slower (measured: 28k vs 143k rows/s, both fsynced).
 * - A locked or failing database becomes `StoreUnavailableError`, never a raw
 *   SQLite error, so the runtime can go to safe mode.
 * - A batch lands only if it continues the stored chain (see `LedgerStore`):
 *   its own links are checked here, its link to the stored receipt before it
 *   inside the transaction that inserts it. That costs a string comparison
 *   with the head the worker saw last, and one lookup on the (ledger, seq)
 *   index when it does not know the head (the same lookup the size check
 *   made before).
 * - The database file is created with mode 0600 and its directory 0700 (the
 *   WAL and shared-memory files take the database's mode).
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { genesisHash } from "../../ledger/hash.ts";
import type { LedgerId, Receipt } from "../../ledger/receipt.ts";
import {
  BatchInvalidError,
  ChainConflictError,
  LedgerStoreErrorCode,
  SeqConflictError,
  StoreUnavailableError,
  type AppendBatch,
  type LedgerHead,
  type LedgerStore,
  type StoredCheckpoint,
  type StoredSnapshot,
} from "../../ports/index.ts";
import type { Reply, Request, WireBatch, WireOutcome, WorkerConfig } from "./sqlite-wire.ts";

export interface SqliteLedgerStoreOptions {
  /** Database file (created with its directory). */
  readonly path: string;
  /** How long a write waits for a lock held by another connection before the store counts as unavailable. */
  readonly busyTimeoutMs?: number;
  /** `full` (default): durable against power loss; `normal`: durable against a killed process. */
  readonly synchronous?: "full" | "normal";
  /** Deadline of reads and other calls (not appends, which the busy timeout bounds). */
  readonly callTimeoutMs?: number;
  /**
   * The worker thread gives its memory back once it has been this long without
   * work after some (see `app/memory-reclaimer.ts`; needs `--expose-gc`); 0 (default): never.
   */
  readonly reclaimAfterMs?: number;
  /** Told when the store stops working (its worker failed or exited); pino's `error` fits. */
  readonly logger?: { error(obj: object, msg: string): void };
}

/** SQLite result codes that mean "the store is not usable now", not "this request is wrong". */
const UNAVAILABLE = new Set([5 /* BUSY */, 6 /* LOCKED */, 8 /* READONLY */, 10 /* IOERR */, 11 /* CORRUPT */, 13 /* FULL */, 14 /* CANTOPEN */, 26 /* NOTADB */]);

function validate(b: AppendBatch): void {
  if (!Number.isSafeInteger(b.expectedSeq) || b.expectedSeq < 0) throw new BatchInvalidError(`expectedSeq ${b.expectedSeq} is not a non-negative integer`);
  if (b.receipts.length === 0 && b.checkpoint === undefined) throw new BatchInvalidError("a batch needs receipts or a checkpoint");
  for (let i = 0; i < b.receipts.length; i++) {
    const r = b.receipts[i]!;
    if (r.ledger !== b.ledger) throw new BatchInvalidError(`receipt ${i} belongs to ledger ${r.ledger}, not ${b.ledger}`);
    if (r.seq !== b.expectedSeq + i) throw new BatchInvalidError(`receipt ${i} has seq ${r.seq}; expected ${b.expectedSeq + i} (seqs must be contiguous)`);
  }
  if (b.texts !== undefined && b.texts.length !== b.receipts.length) throw new BatchInvalidError(`the batch has ${b.receipts.length} receipts but ${b.texts.length} texts`);
  if (b.checkpoint !== undefined && b.checkpoint.size !== b.expectedSeq + b.receipts.length) {
    throw new BatchInvalidError(`checkpoint covers ${b.checkpoint.size} receipts but the ledger will have ${b.expectedSeq + b.receipts.length}`);
  }
}

function toError(what: string, e: { message: string; errcode?: number; errstr?: string }): Error {
  const primary = typeof e.errcode === "number" ? e.errcode & 0xff : undefined;
  if (primary === undefined || UNAVAILABLE.has(primary)) {
    return new StoreUnavailableError(`sqlite ${what} failed: ${e.errstr ?? e.message}`);
  }
  return new Error(`sqlite ${what} failed: ${e.message}`);
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export function createSqliteLedgerStore(options: SqliteLedgerStoreOptions): LedgerStore {
  const path = resolve(options.path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // Created here, before SQLite opens it, so that it never exists with a wider mode.
    closeSync(openSync(path, "a", 0o600));
  } catch {
    // Not creatable here: opening it in the worker fails and says why (StoreUnavailableError).
  }
  const config: WorkerConfig = { path, busyTimeoutMs: options.busyTimeoutMs ?? 1000, synchronous: options.synchronous ?? "full", reclaimAfterMs: options.reclaimAfterMs ?? 0 };
  const callTimeout = options.callTimeoutMs ?? 10_000;
  const worker = new Worker(new URL("./sqlite-worker.js", import.meta.url), { workerData: config });
  worker.unref();
  let nextId = 0;
  let closed = false;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; what: string }>();
  let dead: Error | null = null;
  worker.on("message", (r: Reply) => {
    const w = waiting.get(r.id);
    if (w === undefined) return;
    waiting.delete(r.id);
    if (r.ok) w.resolve(r.value);
    else w.reject(toError(w.what, r.error));
  });
  const failAll = (err: Error) => {
    dead = err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on("error", (err) => {
    options.logger?.error({ code: LedgerStoreErrorCode.unavailable, path, err: err.message }, "the ledger store's sqlite worker failed");
    failAll(new StoreUnavailableError(`the sqlite worker failed: ${err.message}`));
  });
  worker.on("exit", (exitCode) => {
    if (!closed) options.logger?.error({ code: LedgerStoreErrorCode.unavailable, path, exitCode }, "the ledger store's sqlite worker exited");
    failAll(new StoreUnavailableError("the ledger store is closed"));
  });

  const call = <T>(req: DistributiveOmit<Request, "id">, deadlineMs?: number): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    worker.ref();
    return new Promise<T>((resolvePromise, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        if (timer) clearTimeout(timer);
        if (waiting.size === 0) worker.unref();
      };
      waiting.set(id, {
        what: req.op,
        resolve: (v) => {
          settle();
          resolvePromise(v as T);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      if (deadlineMs !== undefined) {
        timer = setTimeout(() => {
          if (!waiting.delete(id)) return;
          settle();
          reject(new StoreUnavailableError(`sqlite ${req.op} did not answer within ${deadlineMs} ms`, { timeout: true }));
        }, deadlineMs);
      }
      worker.postMessage({ ...req, id });
    });
  };

  // Group commit: appends of one turn of the event loop travel as one message.
  let queue: { batches: readonly AppendBatch[]; resolve: (o: (SeqConflictError | null)[]) => void; reject: (e: Error) => void }[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const work = queue;
    queue = [];
    if (work.length === 0) return;
    const wire: WireBatch[] = [];
    for (const p of work) {
      for (const b of p.batches) {
        let hashes = "";
        let texts = "";
        let broken: string | undefined;
        const prevHash = b.receipts[0]?.prev_hash ?? b.prevHash ?? "";
        if (b.receipts.length > 0 && b.prevHash !== undefined && b.prevHash !== prevHash) broken = "its prevHash is not its first receipt's prev_hash";
        // What links within the batch, and to the genesis hash, is checked here; the link to the stored chain in the transaction.
        if (b.expectedSeq === 0 && prevHash !== "" && prevHash !== genesisHash(b.ledger)) broken = "its first prev_hash is not the ledger's genesis hash";
        for (let i = 0; i < b.receipts.length; i++) {
          const r = b.receipts[i]!;
          const text = b.texts?.[i] ?? JSON.stringify(r);
          if (i > 0 && r.prev_hash !== b.receipts[i - 1]!.hash) broken ??= `receipt ${r.seq} does not link to receipt ${r.seq - 1}`;
          hashes += r.hash;
          texts += i === 0 ? text : `\n${text}`;
        }
        wire.push({
          ledger: b.ledger,
          expectedSeq: b.expectedSeq,
          count: b.receipts.length,
          hashes,
          texts,
          prevHash: b.expectedSeq === 0 ? "" : prevHash,
          ...(broken === undefined ? {} : { broken }),
          ...(b.checkpoint ? { checkpoint: { size: b.checkpoint.size, root: b.checkpoint.root, note: b.checkpoint.note } } : {}),
        });
      }
    }
    call<WireOutcome[]>({ op: "append", batches: wire }).then(
      (outcomes) => {
        let k = 0;
        for (const p of work) {
          p.resolve(p.batches.map((b) => {
            const o = outcomes[k++];
            if (!o) return null;
            return o.chain === undefined ? new SeqConflictError(b.ledger, b.expectedSeq, o.actualSize) : new ChainConflictError(b.ledger, b.expectedSeq, o.actualSize, o.chain);
          }));
        }
      },
      (err: Error) => {
        for (const p of work) p.reject(err);
      },
    );
  };
  const enqueue = (batches: readonly AppendBatch[], now = false): Promise<(SeqConflictError | null)[]> => {
    if (closed) return Promise.reject(new StoreUnavailableError("the ledger store is closed"));
    try {
      for (const b of batches) validate(b);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((res, rej) => {
      queue.push({ batches, resolve: res, reject: rej });
      if (now) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };

  return {
    async append(batch) {
      const [outcome] = await enqueue([batch]);
      if (outcome) throw outcome;
    },
    appendMany(batches) {
      // A caller of appendMany has grouped its batches already: send them (and anything waiting) now.
      return batches.length === 0 ? Promise.resolve([]) : enqueue(batches, true);
    },
    async read(ledger, from, limit) {
      const bodies = await call<string[]>({ op: "read", ledger, from, limit }, callTimeout);
      return bodies.map((b) => JSON.parse(b) as Receipt);
    },
    async readHashes(ledger, from = 0, to = Number.MAX_SAFE_INTEGER) {
      const chunks = await call<string[]>({ op: "readHashes", ledger, from, to }, callTimeout);
      const hashes: string[] = [];
      for (const joined of chunks) for (let i = 0; i < joined.length; i += 64) hashes.push(joined.slice(i, i + 64));
      return hashes;
    },
    async head(ledger): Promise<LedgerHead> {
      const row = await call<{ seq: number; hash: string; body: string } | null>({ op: "head", ledger }, callTimeout);
      if (row === null) return { size: 0, lastHash: genesisHash(ledger), lastTimestamp: null };
      return { size: row.seq + 1, lastHash: row.hash, lastTimestamp: (JSON.parse(row.body) as Receipt).timestamp };
    },
    async latestCheckpoint(ledger): Promise<StoredCheckpoint | null> {
      const row = await call<{ size: number; root: string; note: string } | null>({ op: "latestCheckpoint", ledger }, callTimeout);
      return row === null ? null : { size: row.size, root: row.root, note: row.note };
    },
    async listLedgers() {
      return (await call<string[]>({ op: "listLedgers" }, callTimeout)) as LedgerId[];
    },
    async putSnapshot(ledger, s) {
      await call({ op: "putSnapshot", ledger, seq: s.seq, lastHash: s.lastHash, version: s.version, state: JSON.stringify(s.state) }, callTimeout);
    },
    async getSnapshot(ledger): Promise<StoredSnapshot | null> {
      const row = await call<{ seq: number; last_hash: string; version: string; state: string } | null>({ op: "getSnapshot", ledger }, callTimeout);
      return row === null ? null : { seq: row.seq, lastHash: row.last_hash, version: row.version, state: JSON.parse(row.state) as unknown };
    },
    async probe(deadlineMs) {
      // The deadline holds here even when the worker is stuck behind a lock.
      await call({ op: "probe", deadlineMs, at: Date.now() }, deadlineMs);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (scheduled) flush();
      await call({ op: "close" }, callTimeout).catch(() => {});
      await worker.terminate();
    },
  };
}
