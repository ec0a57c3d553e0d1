/**
 * The embedded TenantTokenStore: SQLite through `node:sqlite`, on the main
 * thread, in a database file of its own in the data directory
 * (`tenant-tokens.sqlite`, beside `ledger.sqlite`).
 *
 * A file of its own rather than a table in the ledger's: `DatabaseSync` is
 * synchronous, so a token write that had to wait for the ledger worker's
 * write lock (a group commit and its fsync) would hold the event loop, and
 * every tenant's signals with it, for as long; and a ledger commit would in
 * turn wait on a token write. Here nothing else writes: the data directory
 * belongs to one process, and this store is its only connection to the file.
 * Writes are rare (issue, revoke, last-use times at most once a minute per
 * token) and small, so running them on the main thread costs microseconds;
 * signals never reach this store (the runtime verifies from its own index).
 *
 * WAL journal, `synchronous = FULL`: an issued or revoked token survives a
 * killed process and a power cut. The file is created with mode 0600 (SQLite
 * gives its journal files the database file's mode).
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { StoreUnavailableError, type StoredTenantToken, type TenantTokenIssueOutcome, type TenantTokenStore } from "../../ports/index.ts";

export interface SqliteTokenStoreOptions {
  /** Database file (created with its directory, mode 0600). */
  readonly path: string;
  /** How long a write waits for a lock another connection holds (default 2 s). */
  readonly busyTimeoutMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tenant_tokens (
  digest       TEXT PRIMARY KEY,
  account      TEXT NOT NULL,
  token_id     TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  last_used_at TEXT,
  UNIQUE (account, token_id)
) WITHOUT ROWID;
`;

interface Row {
  digest: string;
  account: string;
  token_id: string;
  created_at: string;
  last_used_at: string | null;
}

const fromRow = (r: Row): StoredTenantToken => ({ account: r.account, tokenId: r.token_id, digest: r.digest, createdAt: r.created_at, lastUsedAt: r.last_used_at });

export function createSqliteTokenStore(options: SqliteTokenStoreOptions): TenantTokenStore {
  const path = resolve(options.path);
  let db: DatabaseSync | null = null;
  let closed = false;

  /** Opens on first use, so a store that is never asked costs nothing and a failure is reported where it is met. */
  const open = (): DatabaseSync => {
    if (db !== null) return db;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Created here, 0600, before SQLite opens it (SQLite would create it with the umask's mode).
    closeSync(openSync(path, "a", 0o600));
    const conn = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 2000 });
    try {
      conn.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
      conn.exec(SCHEMA);
    } catch (err) {
      conn.close();
      throw err;
    }
    db = conn;
    return conn;
  };

  /** Runs one call; SQLite failures become StoreUnavailableError (never a raw error, never the token). */
  const run = <T>(what: string, body: (conn: DatabaseSync) => T): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailableError("the tenant token store is closed"));
    try {
      return Promise.resolve(body(open()));
    } catch (err) {
      const e = err as { message: string; errstr?: string };
      return Promise.reject(new StoreUnavailableError(`sqlite tenant tokens ${what} failed: ${e.errstr ?? e.message}`, { cause: err }));
    }
  };

  return {
    issue(token, maxActive) {
      return run("issue", (conn): TenantTokenIssueOutcome => {
        conn.exec("BEGIN IMMEDIATE");
        try {
          const { n } = conn.prepare("SELECT count(*) AS n FROM tenant_tokens WHERE account = ?").get(token.account) as { n: number };
          if (n >= maxActive) {
            conn.exec("ROLLBACK");
            return "limit";
          }
          conn
            .prepare("INSERT INTO tenant_tokens (digest, account, token_id, created_at, last_used_at) VALUES (?, ?, ?, ?, NULL)")
            .run(token.digest, token.account, token.tokenId, token.createdAt);
          conn.exec("COMMIT");
          return "issued";
        } catch (err) {
          if (conn.isTransaction) conn.exec("ROLLBACK");
          throw err;
        }
      });
    },
    list(account) {
      return run("list", (conn) => (conn.prepare("SELECT * FROM tenant_tokens WHERE account = ? ORDER BY created_at, token_id").all(account) as unknown as Row[]).map(fromRow));
    },
    listAll() {
      return run("listAll", (conn) => (conn.prepare("SELECT * FROM tenant_tokens ORDER BY account, created_at, token_id").all() as unknown as Row[]).map(fromRow));
    },
    revoke(account, tokenId) {
      return run("revoke", (conn) => Number(conn.prepare("DELETE FROM tenant_tokens WHERE account = ? AND token_id = ?").run(account, tokenId).changes) > 0);
    },
    revokeAll(account) {
      return run("revokeAll", (conn) =>
        (conn.prepare("DELETE FROM tenant_tokens WHERE account = ? RETURNING token_id").all(account) as unknown as { token_id: string }[]).map((r) => r.token_id).sort(),
      );
    },
    lookup(digest) {
      return run("lookup", (conn) => {
        const row = conn.prepare("SELECT account, token_id FROM tenant_tokens WHERE digest = ?").get(digest) as { account: string; token_id: string } | undefined;
        return row === undefined ? null : { account: row.account, tokenId: row.token_id };
      });
    },
    touch(uses) {
      return run("touch", (conn) => {
        if (uses.length === 0) return;
        const update = conn.prepare("UPDATE tenant_tokens SET last_used_at = ? WHERE digest = ? AND (last_used_at IS NULL OR last_used_at < ?)");
        conn.exec("BEGIN IMMEDIATE");
        try {
          for (const u of uses) update.run(u.lastUsedAt, u.digest, u.lastUsedAt);
          conn.exec("COMMIT");
        } catch (err) {
          if (conn.isTransaction) conn.exec("ROLLBACK");
          throw err;
        }
      });
    },
    async close() {
      closed = true;
      db?.close();
      db = null;
    },
  };
}
