/**
 * Offline verification of an export archive: everything an auditor checks,
 * in the order `receipts/SPEC.md` gives, with the first problem named in
 * plain words (`seq 4711: hash mismatch`).
 *
 * Per-line work (parse, schema, hash) is independent and runs on worker
 * threads for large archives; what links lines (seq, chain, time, Merkle
 * root) runs here, in order.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { ArchiveUnreadableError, ARCHIVE_FORMAT, readArchive } from "./archive.ts";
import { openNote, parseCheckpoint, parseVerifierKey, type Verifier } from "./checkpoint.ts";
import { genesisHash, hexToBytes } from "./hash.ts";
import { MerkleFrontier } from "./merkle.ts";
import { PLATFORM_LEDGER } from "./receipt.ts";
import { usageLineInfo, UsageAudit, type UsageAuditReport } from "./usage-audit.ts";
import { checkLines, type LineResult } from "./verify-lines.ts";

export interface VerifyIssue {
  readonly seq?: number;
  readonly line?: number;
  readonly code: string;
  readonly message: string;
}

export interface VerifyReport {
  readonly valid: boolean;
  readonly ledger: string | null;
  readonly origin: string | null;
  /** Receipts in the archive. */
  readonly receipts: number;
  /** Tree size the checkpoint claims. */
  readonly checkpointSize: number | null;
  /** Base64 Merkle root computed over the receipts. */
  readonly root: string;
  /** Verifier keys whose signature verified. */
  readonly verifiedBy: readonly string[];
  readonly unknownSigners: readonly string[];
  /** Whose keys were trusted: the caller's, or (weaker) the archive's own. */
  readonly trust: "given" | "archive";
  /** The first problems found (at most 100), in order. */
  readonly errors: readonly VerifyIssue[];
  /** All problems found, including those not listed. */
  readonly errorCount: number;
  /** Usage billed from receipts, recomputed (its mismatches are errors too). */
  readonly usage: Omit<UsageAuditReport, "ledger">;
}

export interface VerifyOptions {
  /** Trusted verifier keys, or "archive" to trust the archive's own `keys` member (proves integrity, not origin). */
  readonly trustedKeys: readonly Verifier[] | "archive";
  readonly onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Worker threads for per-line checks; 0 checks on this thread. Default: one per core for large archives. */
  readonly workers?: number;
}

const MAX_LISTED = 100;

class LinePool {
  readonly #workers: Worker[] = [];
  #next = 0;
  #seq = 0;
  readonly #waiting = new Map<number, { resolve: (r: LineResult[]) => void; reject: (e: Error) => void }>();

  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL("./verify-worker.ts", import.meta.url));
      w.on("message", (m: { id: number; results: LineResult[] }) => {
        const p = this.#waiting.get(m.id);
        this.#waiting.delete(m.id);
        p?.resolve(m.results);
      });
      w.on("error", (err) => {
        for (const p of this.#waiting.values()) p.reject(err);
        this.#waiting.clear();
      });
      this.#workers.push(w);
    }
  }

  check(lines: string[], firstLine: number, notUtf8: readonly number[]): Promise<LineResult[]> {
    const id = this.#seq++;
    const w = this.#workers[this.#next++ % this.#workers.length]!;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      w.postMessage({ id, lines, firstLine, notUtf8 });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** Verifies an archive. Throws ArchiveUnreadableError when it cannot be read at all (exit code 2). */
export async function verifyArchive(path: string, options: VerifyOptions): Promise<VerifyReport> {
  const errors: VerifyIssue[] = [];
  let errorCount = 0;
  const issue = (i: VerifyIssue) => {
    errorCount++;
    if (errors.length < MAX_LISTED) errors.push(i);
  };

  // The ledger id is needed for the chain's first link: it comes from the first receipt,
  // and is checked against the manifest at the end.
  let ledger = null as string | null;
  let expectedSeq = 0;
  let prevHash: string | null = null;
  let prevTime = "";
  const frontier = new MerkleFrontier();
  const zero = new Uint8Array(32);

  const usage = new UsageAudit();
  const sequence = (results: LineResult[], lines: readonly ReturnType<typeof usageLineInfo>[], firstLine: number) => {
    for (const r of results) {
      for (const e of r.errors) issue(e);
      if (r.skip) continue;
      usage.add({ seq: r.seq, timestamp: r.timestamp, hash: r.hash, ...lines[r.line - firstLine]! });
      const seq = r.seq;
      if (ledger === null) ledger = r.ledger;
      const where = `seq ${seq}`;
      if (seq !== expectedSeq) {
        if (seq > expectedSeq) issue({ seq: expectedSeq, line: r.line, code: "SEQ_GAP", message: `seq ${expectedSeq}: missing (line ${r.line} has seq ${seq}: gap)` });
        else issue({ seq, line: r.line, code: "SEQ_DUPLICATE", message: `${where}: duplicate or out of order (expected seq ${expectedSeq} at line ${r.line})` });
      }
      const expectedPrev = prevHash ?? (ledger === null ? null : genesisHash(ledger));
      if (expectedPrev !== null && r.prevHash !== expectedPrev) issue({ seq, line: r.line, code: "CHAIN_BROKEN", message: `${where}: prev_hash does not link` });
      if (r.timestamp < prevTime) issue({ seq, line: r.line, code: "TIME_DECREASES", message: `${where}: timestamp ${r.timestamp} is before the previous receipt's ${prevTime}` });
      if (r.ledger !== ledger) issue({ seq, line: r.line, code: "LEDGER_CHANGES", message: `${where}: ledger "${r.ledger}" but earlier receipts are on "${ledger}"` });
      if (ledger === PLATFORM_LEDGER ? r.accountId !== null : r.accountId !== ledger) {
        issue({
          seq,
          line: r.line,
          code: "ACCOUNT_MISMATCH",
          message: ledger === PLATFORM_LEDGER ? `${where}: account_id must be absent on the platform ledger` : `${where}: account_id "${r.accountId ?? "(absent)"}" is not the ledger's account "${ledger}"`,
        });
      }
      frontier.push(/^[0-9a-f]{64}$/.test(r.hash) ? hexToBytes(r.hash) : zero);
      expectedSeq = seq + 1;
      prevHash = r.hash;
      if (r.timestamp > prevTime) prevTime = r.timestamp;
    }
  };

  const stat = await import("node:fs/promises").then((fs) => fs.stat(path).catch(() => null));
  const workers = options.workers ?? (stat !== null && stat.size > 4 * 1024 * 1024 ? Math.max(1, Math.min(4, availableParallelism())) : 0);
  const pool = workers > 0 ? new LinePool(workers) : null;
  // Results are sequenced in line order while later batches are still being checked.
  let ordered: Promise<void> = Promise.resolve();
  let inFlight = 0;
  const drains: (() => void)[] = [];
  let members;
  try {
    members = await readArchive(path, {
      onLines: async (lines, firstLine, notUtf8) => {
        const usageLines = lines.map(usageLineInfo);
        if (pool === null) {
          sequence(checkLines(lines, firstLine, notUtf8), usageLines, firstLine);
          return;
        }
        const checked = pool.check(lines, firstLine, notUtf8);
        inFlight++;
        ordered = ordered.then(async () => {
          sequence(await checked, usageLines, firstLine);
          inFlight--;
          drains.shift()?.();
        });
        if (inFlight > workers * 4) await new Promise<void>((r) => drains.push(r));
      },
      onOversizedLine: (line, bytes) => issue({ line, code: "LINE_TOO_LONG", message: `line ${line}: ${bytes} bytes is over the 1 MiB line limit` }),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    await ordered;
  } finally {
    await pool?.close();
  }
  const receipts = members.lines;
  const root = Buffer.from(frontier.root()).toString("base64");

  // Manifest (its problems are reported after the checkpoint's: the signed checkpoint is what auditors trust).
  const deferred: VerifyIssue[] = [];
  const manifestIssue = (i: VerifyIssue) => void deferred.push(i);
  let manifest: Record<string, unknown> | null = null;
  try {
    const m = JSON.parse(members.manifest) as unknown;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw new Error("not an object");
    manifest = m as Record<string, unknown>;
  } catch (err) {
    manifestIssue({ code: "MANIFEST_INVALID", message: `manifest: not valid JSON (${(err as Error).message})` });
  }
  const origin = typeof manifest?.["origin"] === "string" ? manifest["origin"] : null;
  if (manifest !== null) {
    if (manifest["format"] !== ARCHIVE_FORMAT) manifestIssue({ code: "MANIFEST_FORMAT", message: `manifest: format is ${JSON.stringify(manifest["format"])}, expected "${ARCHIVE_FORMAT}"` });
    if (ledger !== null && manifest["ledger"] !== ledger) manifestIssue({ code: "MANIFEST_LEDGER", message: `manifest: ledger ${JSON.stringify(manifest["ledger"])} but the receipts are on "${ledger}"` });
    if (ledger === null && typeof manifest["ledger"] === "string") ledger = manifest["ledger"];
    if (manifest["size"] !== receipts) manifestIssue({ code: "MANIFEST_SIZE", message: `manifest: size ${String(manifest["size"])} but archive has ${receipts} receipts` });
    if (manifest["root"] !== root) manifestIssue({ code: "MANIFEST_ROOT", message: "manifest: root does not match the receipts' Merkle root" });
    if (origin === null || (ledger !== null && !origin.endsWith(`/${ledger}`))) {
      manifestIssue({ code: "MANIFEST_ORIGIN", message: `manifest: origin ${JSON.stringify(manifest["origin"])} does not end with "/${ledger ?? "?"}"` });
    }
  }

  // Trusted keys.
  let trusted: readonly Verifier[];
  if (options.trustedKeys === "archive") {
    const parsed: Verifier[] = [];
    for (const [i, line] of members.keys.split("\n").entries()) {
      if (line.trim() === "") continue;
      try {
        parsed.push(parseVerifierKey(line));
      } catch (err) {
        issue({ code: "KEYS_INVALID", message: `keys line ${i + 1}: ${(err as Error).message}` });
      }
    }
    trusted = parsed;
  } else {
    trusted = options.trustedKeys;
  }

  // Checkpoint: signature, then what it says.
  let verifiedBy: string[] = [];
  let unknownSigners: string[] = [];
  let checkpointSize: number | null = null;
  try {
    const opened = openNote(members.checkpoint, trusted);
    verifiedBy = opened.verifiedBy;
    unknownSigners = opened.unknownSigners;
  } catch (err) {
    const e = err as Error & { code?: string };
    issue({ code: e.code ?? "CHECKPOINT_INVALID", message: e.code === "NO_TRUSTED_SIGNATURE" ? "no trusted signature" : `checkpoint: ${e.message}` });
  }
  try {
    const split = members.checkpoint.lastIndexOf("\n\n");
    const c = parseCheckpoint(split < 0 ? members.checkpoint : members.checkpoint.slice(0, split + 1));
    checkpointSize = c.size;
    if (c.size !== receipts) issue({ code: "CHECKPOINT_SIZE", message: `checkpoint: size ${c.size} but archive has ${receipts} receipts` });
    if (Buffer.from(c.root).toString("base64") !== root) issue({ code: "CHECKPOINT_ROOT", message: "checkpoint: root does not match the receipts' Merkle root" });
    if (origin !== null && c.origin !== origin) issue({ code: "CHECKPOINT_ORIGIN", message: `checkpoint: origin "${c.origin}" is not the manifest's "${origin}"` });
  } catch (err) {
    issue({ code: "CHECKPOINT_FORMAT", message: `checkpoint: ${(err as Error).message}` });
  }

  for (const i of deferred) issue(i);
  const { ledger: _usageLedger, ...usageReport } = usage.report();
  for (const m of usageReport.mismatches) issue({ seq: m.seq, code: m.code, message: m.message });

  return {
    valid: errorCount === 0,
    ledger,
    origin,
    receipts,
    checkpointSize,
    root,
    verifiedBy,
    unknownSigners,
    trust: options.trustedKeys === "archive" ? "archive" : "given",
    errors,
    errorCount,
    usage: usageReport,
  };
}

export { ArchiveUnreadableError };
