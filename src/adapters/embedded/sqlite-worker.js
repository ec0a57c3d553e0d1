/**
 * The SQLite side of the embedded LedgerStore, on a worker thread: it owns
 * the database connections, so SQLite's synchronous calls (inserts, fsync,
 * waiting on a lock) never block the runtime's event loop.
 *
 * Each `append` message is one transaction (the client groups every append of
 * a turn of its event loop into one message): a SAVEPOINT per batch, so a
 * conflicting batch is rolled back alone and the others commit.
 *
 * Plain JavaScript, type-checked through its JSDoc: a worker thread is an
 * isolate of its own, and a `.ts` entry point would make Node load its
 * TypeScript stripper a second time there (about 12 MB of resident memory).
 */
// @ts-check
/** @import { Reply, Request, WireBatch, WireOutcome, WorkerConfig } from "./sqlite-wire.ts" */
import { DatabaseSync } from "node:sqlite";
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";

/** @type {WorkerConfig} */
const config = workerData;

/**
 * @param {number} timeout
 * @returns {DatabaseSync}
 */
function open(timeout) {
  const db = new DatabaseSync(config.path, { timeout });
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${config.synchronous === "normal" ? "NORMAL" : "FULL"};`);
  return db;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS receipts (
    id INTEGER PRIMARY KEY, ledger TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL);
  CREATE UNIQUE INDEX IF NOT EXISTS receipts_ledger_seq ON receipts (ledger, seq);
  CREATE TABLE IF NOT EXISTS ledgers (ledger TEXT PRIMARY KEY) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS checkpoints (
    ledger TEXT NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL,
    PRIMARY KEY (ledger, size)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS snapshots (
    ledger TEXT PRIMARY KEY, seq INTEGER NOT NULL, last_hash TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
`;

/**
 * Opens the database and creates its schema in one write transaction. Two
 * processes opening a new database at once race for the WAL switch and the
 * schema; the loser may get SQLITE_BUSY or SQLITE_SCHEMA without the busy
 * handler being asked, so opening is retried until the busy timeout.
 */
/** @returns {DatabaseSync} */
function initialize() {
  const until = Date.now() + Math.max(config.busyTimeoutMs, 2000);
  for (;;) {
    /** @type {DatabaseSync | null} */
    let handle = null;
    try {
      handle = open(config.busyTimeoutMs);
      handle.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
      return handle;
    } catch (err) {
      try {
        handle?.close();
      } catch {
        // already unusable: nothing to release
      }
      if (Date.now() > until) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

const db = initialize();

const st = {
  head: db.prepare("SELECT seq, hash FROM receipts WHERE ledger = ? ORDER BY seq DESC LIMIT 1"),
  last: db.prepare("SELECT seq, hash, body FROM receipts WHERE ledger = ? ORDER BY seq DESC LIMIT 1"),
  insert: db.prepare("INSERT INTO receipts (ledger, seq, hash, body) VALUES (?, ?, ?, ?)"),
  ledger: db.prepare("INSERT OR IGNORE INTO ledgers (ledger) VALUES (?)"),
  checkpoint: db.prepare("INSERT OR REPLACE INTO checkpoints (ledger, size, root, note) VALUES (?, ?, ?, ?)"),
  latestCheckpoint: db.prepare("SELECT size, root, note FROM checkpoints WHERE ledger = ? ORDER BY size DESC LIMIT 1"),
  read: db.prepare("SELECT body FROM receipts WHERE ledger = ? AND seq >= ? ORDER BY seq LIMIT ?"),
  // An ORDER BY inside the aggregate (SQLite 3.44+) fixes the order of concatenation.
  hashes: db.prepare("SELECT count(*) AS n, group_concat(hash, '' ORDER BY seq) AS joined FROM receipts WHERE ledger = ? AND seq >= ? AND seq < ?"),
  ledgers: db.prepare("SELECT ledger FROM ledgers ORDER BY ledger"),
  putSnapshot: db.prepare("INSERT OR REPLACE INTO snapshots (ledger, seq, last_hash, version, state) VALUES (?, ?, ?, ?, ?)"),
  getSnapshot: db.prepare("SELECT seq, last_hash, version, state FROM snapshots WHERE ledger = ?"),
};
st.read.setReturnArrays(true);

/**
 * Heads this connection has seen (the size, and the hash of receipt
 * `size - 1`): a hint only, since another connection may have appended.
 * Its hash is still true of that seq, for good (a stored receipt never
 * changes): a batch that links to it, at a seq the unique (ledger, seq) index
 * lets it take, continues the stored chain. When the hint does not fit the
 * batch, the database is asked (one lookup on that index).
 * @type {Map<string, { size: number; hash: string | null }>}
 */
const heads = new Map();
/**
 * @param {string} ledger
 * @returns {{ size: number; hash: string | null }}
 */
function currentHead(ledger, fresh = false) {
  if (!fresh) {
    const known = heads.get(ledger);
    if (known !== undefined) return known;
  }
  const row = /** @type {{ seq: number; hash: string } | undefined} */ (st.head.get(ledger));
  const head = row === undefined ? { size: 0, hash: null } : { size: row.seq + 1, hash: row.hash };
  heads.set(ledger, head);
  return head;
}

const CONSTRAINT = 19;

/**
 * One transaction; per batch null (committed) or why it was refused. A batch
 * is refused, and nothing of it written, when the ledger's size is not its
 * expectedSeq or the stored receipt before it is not the one it links to; a
 * later batch of the same ledger in the same transaction then finds a gap or
 * a link that does not hold, and is refused too. Other ledgers' batches are
 * not affected.
 * @param {readonly WireBatch[]} batches
 * @returns {WireOutcome[]}
 */
function append(batches) {
  /** @type {WireOutcome[]} */
  const outcomes = [];
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const b of batches) {
      if (b.broken !== undefined) {
        outcomes.push({ actualSize: currentHead(b.ledger, true).size, chain: b.broken });
        continue;
      }
      let head = currentHead(b.ledger);
      if (head.size !== b.expectedSeq) head = currentHead(b.ledger, true);
      if (head.size !== b.expectedSeq) {
        outcomes.push({ actualSize: head.size });
        continue;
      }
      if (b.prevHash !== "" && b.expectedSeq > 0 && head.hash !== b.prevHash) {
        const stored = head.hash ?? "none";
        outcomes.push({
          actualSize: currentHead(b.ledger, true).size,
          chain: `its prev_hash ${b.prevHash.slice(0, 16)}… is not the hash ${stored.slice(0, 16)}… of stored seq ${b.expectedSeq - 1}`,
        });
        continue;
      }
      const texts = b.count === 0 ? [] : b.texts.split("\n");
      if (texts.length !== b.count || b.hashes.length !== 64 * b.count) throw new Error(`batch of ${b.ledger}: ${b.count} receipts, but ${texts.length} texts and ${b.hashes.length / 64} hashes`);
      db.exec("SAVEPOINT batch");
      try {
        for (let i = 0; i < b.count; i++) st.insert.run(b.ledger, b.expectedSeq + i, b.hashes.slice(64 * i, 64 * i + 64), /** @type {string} */ (texts[i]));
        if (b.count > 0 && b.expectedSeq === 0) st.ledger.run(b.ledger);
        if (b.checkpoint) st.checkpoint.run(b.ledger, b.checkpoint.size, b.checkpoint.root, b.checkpoint.note);
        db.exec("RELEASE batch");
        if (b.count > 0) heads.set(b.ledger, { size: b.expectedSeq + b.count, hash: b.hashes.slice(64 * (b.count - 1)) });
        outcomes.push(null);
      } catch (err) {
        db.exec("ROLLBACK TO batch; RELEASE batch");
        const code = /** @type {{ errcode?: number }} */ (err).errcode;
        // A row that exists already: another connection wrote this seq first.
        if (typeof code === "number" && (code & 0xff) === CONSTRAINT) outcomes.push({ actualSize: currentHead(b.ledger, true).size });
        else throw err;
      }
    }
    db.exec("COMMIT");
    return outcomes;
  } catch (err) {
    heads.clear();
    try {
      db.exec("ROLLBACK");
    } catch {
      // the transaction is gone already
    }
    throw err;
  }
}

/** Hashes per string of `readHashes`: 64 MB, well under SQLite's and V8's string limits. */
const HASHES_PER_CHUNK = 1_000_000;

/**
 * The hashes of seqs `from .. to - 1` as strings of concatenated 64-character
 * hashes: a million strings cost more to make and pass between threads than
 * to read, and SQLite concatenates them without making any.
 */
/**
 * @param {string} ledger
 * @param {number} from
 * @param {number} to
 * @returns {string[]}
 */
function readHashes(ledger, from, to) {
  /** @type {string[]} */
  const chunks = [];
  for (let lo = from; lo < to; lo += HASHES_PER_CHUNK) {
    const row = /** @type {{ n: number; joined: string | null }} */ (st.hashes.get(ledger, lo, Math.min(to, lo + HASHES_PER_CHUNK)));
    if (row.joined !== null) chunks.push(row.joined);
    if (row.n < HASHES_PER_CHUNK) break;
  }
  return chunks;
}

/** @type {DatabaseSync | null} */
let probeDb = null;
let probeTimeout = 0;
/**
 * @param {number} deadlineMs
 * @param {number} at
 */
function probe(deadlineMs, at) {
  // A connection of its own whose lock wait is the probe's deadline.
  if (probeDb === null || probeTimeout !== deadlineMs) {
    probeDb?.close();
    probeDb = open(Math.max(1, deadlineMs));
    probeTimeout = deadlineMs;
  }
  probeDb.exec("BEGIN IMMEDIATE");
  try {
    probeDb.prepare("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)").run(at);
    probeDb.exec("COMMIT");
  } catch (err) {
    try {
      probeDb.exec("ROLLBACK");
    } catch {
      // nothing to roll back
    }
    throw err;
  }
  const row = /** @type {{ at: number } | undefined} */ (probeDb.prepare("SELECT at FROM probe WHERE id = 1").get());
  if (row?.at !== at) throw new Error("the probe read did not return the probe write");
}

/**
 * @param {Request} m
 * @returns {unknown}
 */
function handle(m) {
  switch (m.op) {
    case "append":
      return append(m.batches);
    case "read":
      return /** @type {[string][]} */ (/** @type {unknown} */ (st.read.all(m.ledger, m.from, m.limit))).map(([b]) => b);
    case "readHashes":
      return readHashes(m.ledger, m.from, m.to);
    case "head":
      return st.last.get(m.ledger) ?? null;
    case "latestCheckpoint":
      return st.latestCheckpoint.get(m.ledger) ?? null;
    case "listLedgers":
      return /** @type {{ ledger: string }[]} */ (st.ledgers.all()).map((r) => r.ledger);
    case "putSnapshot":
      st.putSnapshot.run(m.ledger, m.seq, m.lastHash, m.version, m.state);
      return null;
    case "getSnapshot":
      return st.getSnapshot.get(m.ledger) ?? null;
    case "probe":
      probe(m.deadlineMs, m.at);
      return null;
    case "close":
      probeDb?.close();
      db.close();
      return null;
  }
}

if (parentPort === null) throw new Error("sqlite-worker.js runs as a worker thread of the embedded ledger store");
const port = parentPort;

/**
 * Memory back after work, as the runtime does on its own thread
 * (`app/memory-reclaimer.ts`): this isolate has its own heap, grown by
 * the commits of a burst. Health probes are not work: they would keep it busy.
 */
const gc = /** @type {{ gc?: (o: object) => unknown }} */ (globalThis).gc;
/** @type {NodeJS.Timeout | null} */
let reclaimTimer = null;
function workDone() {
  if (gc === undefined || config.reclaimAfterMs <= 0) return;
  if (reclaimTimer !== null) {
    reclaimTimer.refresh();
    return;
  }
  reclaimTimer = setTimeout(() => {
    reclaimTimer = null;
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
  }, config.reclaimAfterMs);
  reclaimTimer.unref();
}

/**
 * @param {unknown} err
 * @returns {{ message: string; errcode?: number; errstr?: string }}
 */
function wireError(err) {
  const e = /** @type {{ message?: string; errcode?: number; errstr?: string }} */ (err);
  return { message: e.message ?? String(err), ...(e.errcode === undefined ? {} : { errcode: e.errcode }), ...(e.errstr === undefined ? {} : { errstr: e.errstr }) };
}

/**
 * Appends that queued while the last transaction was being fsynced, as one
 * transaction: one fsync for all of them, however the client cut its
 * commits. Each message still gets its own reply with its own outcomes; if
 * the transaction fails, each of them fails.
 * @param {Extract<Request, { op: "append" }>[]} group
 */
function appendGroup(group) {
  try {
    const outcomes = append(group.flatMap((m) => m.batches));
    let k = 0;
    for (const m of group) {
      port.postMessage(/** @type {Reply} */ ({ id: m.id, ok: true, value: outcomes.slice(k, k + m.batches.length) }));
      k += m.batches.length;
    }
  } catch (err) {
    const error = wireError(err);
    for (const m of group) port.postMessage(/** @type {Reply} */ ({ id: m.id, ok: false, error }));
  }
}

/** @param {Request} m */
function serve(m) {
  /** @type {Reply} */
  let reply;
  try {
    reply = { id: m.id, ok: true, value: handle(m) };
  } catch (err) {
    reply = { id: m.id, ok: false, error: wireError(err) };
  }
  port.postMessage(reply);
  if (m.op === "close") {
    if (reclaimTimer !== null) clearTimeout(reclaimTimer);
    port.close();
  } else if (m.op !== "probe") workDone();
}

port.on("message", (/** @type {Request} */ m) => {
  if (m.op !== "append") {
    serve(m);
    return;
  }
  // Every append already waiting joins this one; the first other request ends the group and is served after it, in order.
  const group = [m];
  /** @type {Request | null} */
  let after = null;
  for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) {
    const r = /** @type {Request} */ (next.message);
    if (r.op !== "append") {
      after = r;
      break;
    }
    group.push(r);
  }
  appendGroup(group);
  workDone();
  if (after !== null) serve(after);
});
