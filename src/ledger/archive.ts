/**
 * The export archive (`.tar.gz`), as auditors receive it:
 *
 *   manifest.json   {"format":"governor-ledger-archive/v1","ledger","origin","size","root"}
 *   checkpoint      the signed note covering the whole ledger
 *   keys            verifier key strings, one per line
 *   receipts.jsonl  every receipt in seq order, one per line, as stored
 *
 * Members are written in that order with a fixed mtime, so one ledger always
 * gives the same bytes. Writing and reading both stream: a ledger of millions
 * of receipts is never held in memory.
 */
import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Parser, create as createTar, type ReadEntry } from "tar";
import type { LedgerStore } from "../ports/index.ts";
import { ChainBrokenError, ChainLink } from "./chain-link.ts";
import { signCheckpoint, type SignerKey } from "./checkpoint.ts";
import { hexToBytes } from "./hash.ts";
import { MerkleFrontier } from "./merkle.ts";
import type { LedgerId } from "./receipt.ts";

export const ARCHIVE_FORMAT = "governor-ledger-archive/v1";
export const MEMBERS = ["manifest.json", "checkpoint", "keys", "receipts.jsonl"] as const;
export type MemberName = (typeof MEMBERS)[number];

export interface Manifest {
  readonly format: typeof ARCHIVE_FORMAT;
  readonly ledger: string;
  readonly origin: string;
  readonly size: number;
  /** Base64 RFC 6962 root, as in the checkpoint. */
  readonly root: string;
}

export interface ExportResult {
  readonly path: string;
  /** Bytes of the archive file. */
  readonly bytes: number;
  /** Hex SHA-256 of the archive file. */
  readonly sha256: string;
  /** Receipts in the archive. */
  readonly size: number;
  readonly root: string;
}

/**
 * Exports a ledger to `destination`, streaming from the store page by page.
 * Every receipt read must link to the one before it (`ChainLink`): a chain
 * that does not is refused with ChainBrokenError (`LEDGER_CHAIN_BROKEN`)
 * before anything is signed, and no archive is written.
 */
export async function exportLedgerArchive(opts: {
  store: LedgerStore;
  ledger: LedgerId;
  origin: string;
  signers: readonly SignerKey[];
  verifierKeys: readonly string[];
  destination: string;
  pageSize?: number;
}): Promise<ExportResult> {
  const dir = await mkdtemp(join(tmpdir(), "governor-archive-"));
  try {
    const head = await opts.store.head(opts.ledger);
    const size = head.size;
    const frontier = new MerkleFrontier();
    const link = new ChainLink(opts.ledger);
    const out = await open(join(dir, "receipts.jsonl"), "w");
    const page = opts.pageSize ?? 5000;
    try {
      for (let from = 0; from < size; from += page) {
        const receipts = await opts.store.read(opts.ledger, from, Math.min(page, size - from));
        if (receipts.length === 0) throw new Error(`ledger ${opts.ledger} ended at ${from} while exporting ${size} receipts`);
        let text = "";
        for (const r of receipts) {
          link.next(r);
          frontier.push(hexToBytes(r.hash));
          text += `${JSON.stringify(r)}\n`;
        }
        await out.write(text);
      }
    } finally {
      await out.close();
    }
    if (size > 0 && link.lastHash !== head.lastHash) throw new ChainBrokenError(opts.ledger, size - 1, `ledger ${opts.ledger}: its head hash is not the hash of its last receipt`);
    const root = Buffer.from(frontier.root()).toString("base64");
    const stored = await opts.store.latestCheckpoint(opts.ledger);
    const note = stored !== null && stored.size === size && stored.root === root ? stored.note : signCheckpoint({ origin: opts.origin, size, root: frontier.root() }, opts.signers);
    const manifest: Manifest = { format: ARCHIVE_FORMAT, ledger: opts.ledger, origin: opts.origin, size, root };
    await writeFile(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(join(dir, "checkpoint"), note);
    await writeFile(join(dir, "keys"), opts.verifierKeys.map((k) => `${k}\n`).join(""));
    await packArchive(dir, opts.destination);
    const data = await readFile(opts.destination);
    return { path: opts.destination, bytes: data.byteLength, sha256: createHash("sha256").update(data).digest("hex"), size, root };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Packs the four members found in `dir` into a `.tar.gz`, in the archive's member order, with a fixed mtime. */
export async function packArchive(dir: string, destination: string): Promise<void> {
  await pipeline(
    createTar({ gzip: true, cwd: dir, portable: true, mtime: new Date(0), noDirRecurse: true }, [...MEMBERS]),
    createWriteStream(destination),
  );
}

/** The archive cannot be read at all (exit code 2 for the verifier). */
export class ArchiveUnreadableError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ArchiveUnreadableError";
    this.code = code;
  }
}

/** Lines longer than this are refused (a receipt is a few hundred bytes). */
export const MAX_LINE_BYTES = 1024 * 1024;
const MAX_SMALL_MEMBER = 4 * 1024 * 1024;

export interface ArchiveReadHandlers {
  /**
   * Receives the lines of receipts.jsonl in order, in batches; may be async (backpressure).
   * `notUtf8` lists the batch indexes of lines that are not valid UTF-8 (decoded with U+FFFD
   * in place of the bad bytes, so that what else is wrong with them can still be said).
   */
  onLines(lines: string[], firstLine: number, notUtf8: readonly number[]): void | Promise<void>;
  /** A line longer than MAX_LINE_BYTES (its content is dropped). */
  onOversizedLine(line: number, bytes: number): void;
  onProgress?(bytesRead: number, totalBytes: number): void;
}

export interface ArchiveMembers {
  readonly manifest: string;
  readonly checkpoint: string;
  readonly keys: string;
  /** Lines in receipts.jsonl. */
  readonly lines: number;
}

/** Streams an archive: small members are returned, receipts.jsonl is fed to `onLines` line by line. */
export async function readArchive(path: string, handlers: ArchiveReadHandlers, batchLines = 2000): Promise<ArchiveMembers> {
  let total: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new ArchiveUnreadableError("ARCHIVE_NOT_A_FILE", `${path} is not a file`);
    total = s.size;
    const fh = await open(path, "r");
    const magic = Buffer.alloc(2);
    await fh.read(magic, 0, 2, 0);
    await fh.close();
    if (magic[0] !== 0x1f || magic[1] !== 0x8b) throw new ArchiveUnreadableError("ARCHIVE_NOT_GZIP", `${path} is not a gzip file (.tar.gz expected)`);
  } catch (err) {
    if (err instanceof ArchiveUnreadableError) throw err;
    throw new ArchiveUnreadableError("ARCHIVE_UNREADABLE", `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }

  const small = new Map<string, string>();
  let lines = 0;
  let sawReceipts = false;
  let failure: Error | null = null;
  const seen = new Set<string>();
  const consumers: Promise<void>[] = [];

  const consumeLines = async (entry: ReadEntry) => {
    // The current line's bytes so far; dropped (but counted) once it is over the limit.
    let carry: Buffer[] = [];
    let carryBytes = 0;
    let batch: string[] = [];
    let notUtf8: number[] = [];
    let first = 1;
    const flush = async () => {
      if (batch.length === 0) return;
      const b = batch;
      const bad = notUtf8;
      batch = [];
      notUtf8 = [];
      const f = first;
      first += b.length;
      await handlers.onLines(b, f, bad);
    };
    const endLine = (piece: Buffer) => {
      lines++;
      const bytes = carryBytes + piece.length;
      if (bytes > MAX_LINE_BYTES) {
        handlers.onOversizedLine(lines, bytes);
        batch.push("");
      } else {
        const bytes = carryBytes === 0 ? piece : Buffer.concat([...carry, piece]);
        if (!isUtf8(bytes)) notUtf8.push(batch.length);
        batch.push(bytes.toString("utf8"));
      }
      carry = [];
      carryBytes = 0;
    };
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        endLine(chunk.subarray(start, nl));
        start = nl + 1;
        if (batch.length >= batchLines) await flush();
      }
      if (start < chunk.length) {
        const rest = chunk.subarray(start);
        if (carryBytes + rest.length <= MAX_LINE_BYTES) carry.push(Buffer.from(rest));
        else carry = [];
        carryBytes += rest.length;
      }
      handlers.onProgress?.(bytesRead, total);
    }
    if (carryBytes > 0) endLine(Buffer.alloc(0));
    await flush();
  };

  const consumeSmall = async (entry: ReadEntry, name: string) => {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > MAX_SMALL_MEMBER) {
        failure ??= new ArchiveUnreadableError("ARCHIVE_MEMBER_TOO_LARGE", `member ${name} is larger than ${MAX_SMALL_MEMBER} bytes`);
        continue;
      }
      parts.push(chunk);
    }
    small.set(name, Buffer.concat(parts).toString("utf8"));
  };

  let bytesRead = 0;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const name = entry.path.replace(/^\.\//, "");
      if (entry.type !== "File" || !(MEMBERS as readonly string[]).includes(name)) {
        failure ??= new ArchiveUnreadableError("ARCHIVE_UNEXPECTED_MEMBER", `unexpected member "${name.slice(0, 100)}" in the archive`);
        entry.resume();
        return;
      }
      if (seen.has(name)) {
        failure ??= new ArchiveUnreadableError("ARCHIVE_DUPLICATE_MEMBER", `member ${name} appears twice in the archive`);
        entry.resume();
        return;
      }
      seen.add(name);
      if (name === "receipts.jsonl") {
        sawReceipts = true;
        consumers.push(consumeLines(entry));
      } else {
        consumers.push(consumeSmall(entry, name));
      }
    },
  });
  const file = createReadStream(path);
  file.on("data", (c) => (bytesRead += c.length));
  try {
    await pipeline(file, parser);
    await Promise.all(consumers);
  } catch (err) {
    // An entry cut off by the error never ends: its consumer is abandoned, not awaited.
    for (const c of consumers) c.catch(() => {});
    const e = err as NodeJS.ErrnoException & { code?: string };
    if (err instanceof ArchiveUnreadableError) throw err;
    if (e.code === "Z_BUF_ERROR" || /unexpected end/i.test(e.message) || e.code === "TAR_ABORT") {
      throw new ArchiveUnreadableError("ARCHIVE_TRUNCATED", "the archive is truncated (it ends in the middle of the gzip or tar stream)");
    }
    if (e.code === "Z_DATA_ERROR" || e.code?.startsWith("Z_")) throw new ArchiveUnreadableError("ARCHIVE_CORRUPT_GZIP", `the gzip stream is corrupt: ${e.message}`);
    throw new ArchiveUnreadableError("ARCHIVE_NOT_TAR", `the archive is not a readable tar: ${e.message}`);
  }
  if (failure) throw failure;
  for (const m of MEMBERS) {
    if (m === "receipts.jsonl" ? !sawReceipts : !small.has(m)) throw new ArchiveUnreadableError("ARCHIVE_MISSING_MEMBER", `missing member ${m}`);
  }
  return { manifest: small.get("manifest.json")!, checkpoint: small.get("checkpoint")!, keys: small.get("keys")!, lines };
}
