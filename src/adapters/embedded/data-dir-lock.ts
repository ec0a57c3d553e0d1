/**
 * The embedded data directory belongs to one service process at a time.
 *
 * Two processes on one directory would both append to its ledgers and both
 * drain its spool. The service holds an operating-system lock on
 * `<dataDir>/lock.sqlite` for as long as it runs: Node has no flock(), so the
 * lock is SQLite's, an exclusive POSIX advisory lock (fcntl) taken with
 * `PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE` and never committed. The
 * kernel drops it when the process ends however it ends (SIGKILL, a crash,
 * power loss): a lock is never stale, and the next start needs no cleanup.
 * SQLite also refuses a second connection in the same process.
 *
 * Once it holds the lock, the holder writes its pid into `<dataDir>/lock.pid`
 * (a sidecar read only to name the holder in the refusal; the lock is what
 * decides). A process that finds the directory taken leaves at once, and the
 * holder does not notice.
 *
 * The lock belongs to the service (`governor serve`), not to the ledger store:
 * tests and tools that open a store on a directory directly, and CLI commands
 * that only read the directory (a client reading credentials), are not held
 * by it.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";

/** The lock file's and the pid file's names in the data directory. */
export const LOCK_FILE = "lock.sqlite";
export const PID_FILE = "lock.pid";

/** SQLITE_BUSY and SQLITE_LOCKED: another connection holds the lock. */
const HELD = new Set([5, 6]);

/** Another process holds the data directory: the service must not start on it. */
export class DataDirLockedError extends Error {
  readonly code = "GOVERNOR_DATA_DIR_LOCKED";
  readonly dataDir: string;
  /** The holder's pid, when it could be read. */
  readonly holderPid: number | null;
  constructor(dataDir: string, holderPid: number | null) {
    super(
      `the data directory ${dataDir} is in use by another Governor process (${holderPid === null ? "pid unknown" : `pid ${holderPid}`}); ` +
        "one process per data directory: stop that one first, or set GOVERNOR_DATA_DIR to another directory",
    );
    this.name = "DataDirLockedError";
    this.dataDir = dataDir;
    this.holderPid = holderPid;
  }
}

/** The lock held on a data directory. */
export interface DataDirLock {
  readonly dataDir: string;
  /** Gives the directory up (a clean stop). Idempotent. */
  release(): void;
}

/** Locks still held by this process: referenced here so that no collection of a lock object ever closes its database. */
const held = new Set<DataDirLock>();

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The pid in the sidecar, if it names a live process. The holder writes it
 * just after taking the lock: a refusal in that instant may find no file, or
 * the one a dead holder left, so it looks again for a short while.
 */
function readHolder(dataDir: string, waitMs = 1000): number | null {
  const until = Date.now() + waitMs;
  for (;;) {
    let pid: number | null = null;
    try {
      const text = readFileSync(join(dataDir, PID_FILE), "utf8").trim();
      if (/^[1-9][0-9]{0,9}$/.test(text)) pid = Number(text);
    } catch {
      // not written yet
    }
    if (pid !== null && pid !== process.pid && alive(pid)) return pid;
    if (Date.now() >= until) return null;
    sleepSync(20);
  }
}

/**
 * Takes the data directory for this process (creating it, mode 0700), or
 * throws DataDirLockedError naming the holder's pid. Never waits for the lock.
 */
export function lockDataDir(dir: string): DataDirLock {
  const dataDir = resolve(dir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockPath = join(dataDir, LOCK_FILE);
  closeSync(openSync(lockPath, "a", 0o600));
  const db = new DatabaseSync(lockPath, { timeout: 0 });
  try {
    db.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;");
  } catch (err) {
    db.close();
    const code = (err as { errcode?: number }).errcode;
    if (typeof code === "number" && HELD.has(code & 0xff)) throw new DataDirLockedError(dataDir, readHolder(dataDir));
    throw err;
  }
  const pidPath = join(dataDir, PID_FILE);
  const tmp = join(dataDir, `${PID_FILE}.${process.pid}.tmp`);
  // Whole or not at all: a reader never sees half a pid.
  writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
  renameSync(tmp, pidPath);
  let released = false;
  const lock: DataDirLock = {
    dataDir,
    release() {
      if (released) return;
      released = true;
      held.delete(lock);
      // The pid file goes first, while the lock is still ours: never the next holder's.
      try {
        unlinkSync(pidPath);
      } catch {
        // gone already
      }
      db.close();
    },
  };
  held.add(lock);
  return lock;
}
