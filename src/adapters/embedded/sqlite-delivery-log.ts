/**
 * The marketplace delivery log of the embedded backend: two tables of its own
 * in the ledger's database file (`<dataDir>/ledger.sqlite`), on a connection
 * of the main thread.
 *
 * - `marketplace_deliveries`: one row per delivery id, with its owner, when
 *   it was first claimed, and its first outcome (JSON) once it has one.
 * - `marketplace_entitlements`: per entitlement, the time of the newest event
 *   applied (and that event's id). Never pruned: one row per entitlement.
 *
 * Each call is one short transaction (`BEGIN IMMEDIATE`: a claim reads and
 * writes atomically; an outcome and the mark it moves are written together). The calls are synchronous, and a locked database makes
 * them wait up to the busy timeout on the event loop: it is kept short
 * (250 ms by default), and the marketplace refuses events in safe mode
 * before it reaches the log. A failure rejects with `StoreUnavailableError`.
 *
 * One process owns the data directory at a time, so an unfinished claim of
 * another owner is from a process that has gone: `takeoverAfterMs` is 0.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StoreUnavailableError, type DeliveryClaim, type DeliveryClaimResult, type DeliveryLog, type DeliveryOutcome, type DeliveryRecord, type EntitlementMark } from "../../ports/index.ts";

export interface SqliteDeliveryLogOptions {
  /** The database file (the ledger's: `<dataDir>/ledger.sqlite`). */
  readonly path: string;
  /** How long a call waits for another connection's write lock (default 250 ms). */
  readonly busyTimeoutMs?: number;
  /** See `DeliveryLog.takeoverAfterMs` (default 0). */
  readonly takeoverAfterMs?: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS marketplace_deliveries (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, claimed_at INTEGER NOT NULL,
    outcome TEXT, completed_at INTEGER) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS marketplace_deliveries_claimed_at ON marketplace_deliveries (claimed_at);
  CREATE TABLE IF NOT EXISTS marketplace_entitlements (
    entitlement_id TEXT PRIMARY KEY, event_time INTEGER NOT NULL, event_id TEXT NOT NULL) WITHOUT ROWID;
`;

interface DeliveryRow {
  id: string;
  owner: string;
  claimed_at: number;
  outcome: string | null;
  completed_at: number | null;
}

interface Statements {
  delivery: StatementSync;
  insert: StatementSync;
  retake: StatementSync;
  complete: StatementSync;
  release: StatementSync;
  mark: StatementSync;
  setMark: StatementSync;
  prune: StatementSync;
}

export function createSqliteDeliveryLog(options: SqliteDeliveryLogOptions): DeliveryLog {
  const busyTimeoutMs = options.busyTimeoutMs ?? 250;
  let db: DatabaseSync | null = null;
  let st: Statements | null = null;
  let closed = false;

  // Opened on first use: by then the ledger store has created the file (WAL) and its schema.
  const open = (): Statements => {
    if (closed) throw new StoreUnavailableError("the delivery log is closed");
    if (st !== null) return st;
    const handle = new DatabaseSync(options.path, { timeout: busyTimeoutMs });
    try {
      handle.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;`);
      handle.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
    } catch (err) {
      handle.close();
      throw err;
    }
    db = handle;
    st = {
      delivery: handle.prepare("SELECT id, owner, claimed_at, outcome, completed_at FROM marketplace_deliveries WHERE id = ?"),
      insert: handle.prepare("INSERT INTO marketplace_deliveries (id, owner, claimed_at) VALUES (?, ?, ?)"),
      retake: handle.prepare("UPDATE marketplace_deliveries SET owner = ?, claimed_at = ? WHERE id = ? AND outcome IS NULL"),
      complete: handle.prepare("UPDATE marketplace_deliveries SET outcome = ?, completed_at = ? WHERE id = ? AND owner = ? AND outcome IS NULL"),
      release: handle.prepare("DELETE FROM marketplace_deliveries WHERE id = ? AND owner = ? AND outcome IS NULL"),
      mark: handle.prepare("SELECT event_time, event_id FROM marketplace_entitlements WHERE entitlement_id = ?"),
      setMark: handle.prepare(
        "INSERT INTO marketplace_entitlements (entitlement_id, event_time, event_id) VALUES (?, ?, ?) " +
          "ON CONFLICT (entitlement_id) DO UPDATE SET event_time = excluded.event_time, event_id = excluded.event_id WHERE excluded.event_time >= event_time",
      ),
      prune: handle.prepare("DELETE FROM marketplace_deliveries WHERE claimed_at < ?"),
    };
    return st;
  };

  /** Runs `work` in one write transaction; any SQLite failure becomes StoreUnavailableError. */
  const write = <T>(what: string, work: (s: Statements) => T): Promise<T> => {
    try {
      const s = open();
      db!.exec("BEGIN IMMEDIATE");
      try {
        const result = work(s);
        db!.exec("COMMIT");
        return Promise.resolve(result);
      } catch (err) {
        if (db!.isTransaction) db!.exec("ROLLBACK");
        throw err;
      }
    } catch (err) {
      return Promise.reject(unavailable(what, err));
    }
  };

  const read = <T>(what: string, work: (s: Statements) => T): Promise<T> => {
    try {
      return Promise.resolve(work(open()));
    } catch (err) {
      return Promise.reject(unavailable(what, err));
    }
  };

  const markOf = (s: Statements, entitlementId: string): EntitlementMark | null => {
    const row = s.mark.get(entitlementId) as { event_time: number; event_id: string } | undefined;
    return row === undefined ? null : { eventTime: row.event_time, eventId: row.event_id };
  };

  const log: DeliveryLog = {
    takeoverAfterMs: options.takeoverAfterMs ?? 0,

    claim(c: DeliveryClaim): Promise<DeliveryClaimResult> {
      return write("claim", (s): DeliveryClaimResult => {
        const row = s.delivery.get(c.id) as DeliveryRow | undefined;
        if (row !== undefined && row.outcome !== null) {
          return { kind: "completed", outcome: JSON.parse(row.outcome) as DeliveryOutcome, completedAt: row.completed_at ?? row.claimed_at };
        }
        if (row !== undefined && row.owner !== c.owner && row.claimed_at > c.now - log.takeoverAfterMs) {
          return { kind: "in_progress", claimedAt: row.claimed_at };
        }
        if (row === undefined) s.insert.run(c.id, c.owner, c.now);
        else s.retake.run(c.owner, c.now, c.id);
        return { kind: "claimed", retaken: row !== undefined, mark: c.entitlementId === undefined ? null : markOf(s, c.entitlementId) };
      });
    },

    complete(id, owner, outcome, now, applied) {
      return write("complete", (s) => {
        if (Number(s.complete.run(JSON.stringify(outcome), now, id, owner).changes) !== 1) return false;
        if (applied !== undefined) s.setMark.run(applied.entitlementId, applied.eventTime, applied.eventId);
        return true;
      });
    },

    release(id, owner) {
      return write("release", (s) => {
        s.release.run(id, owner);
      });
    },

    get(id) {
      return read("get", (s): DeliveryRecord | null => {
        const row = s.delivery.get(id) as DeliveryRow | undefined;
        if (row === undefined) return null;
        return {
          id: row.id,
          owner: row.owner,
          claimedAt: row.claimed_at,
          outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as DeliveryOutcome),
          completedAt: row.completed_at,
        };
      });
    },

    mark(entitlementId) {
      return read("mark", (s) => markOf(s, entitlementId));
    },

    prune(before) {
      return write("prune", (s) => Number(s.prune.run(before).changes));
    },

    close() {
      closed = true;
      const handle = db;
      db = null;
      st = null;
      try {
        handle?.close();
      } catch {
        // closing a connection that failed: nothing left to release
      }
      return Promise.resolve();
    },
  };
  return log;
}

function unavailable(what: string, err: unknown): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`the delivery log (SQLite) failed to ${what}: ${message}`, { cause: err });
}
