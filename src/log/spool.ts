/**
 * The safe-mode spool: receipts that must be written while the ledger store
 * is down, kept on local disk (fsynced) in chain order, and moved into the
 * ledger when the store answers again — or on the next start, first thing,
 * if the process died meanwhile.
 */
import { mkdir, open, readFile, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { LedgerId, Receipt } from "../ledger/receipt.ts";
import type { LedgerStore, Spool, SpoolEntry } from "../ports/index.ts";

/** An append-only file of JSON lines, one receipt each (mode 0600); every append is fsynced before it resolves. */
export class FileSpool implements Spool {
  readonly path: string;
  #fh: FileHandle | null = null;
  #count = 0;

  constructor(path: string) {
    this.path = path;
  }

  /** Receipts spooled by this process and not yet drained. */
  get count(): number {
    return this.#count;
  }

  async append(entries: readonly SpoolEntry[]): Promise<void> {
    if (entries.length === 0) return;
    if (this.#fh === null) {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      this.#fh = await open(this.path, "a", 0o600);
    }
    let text = "";
    for (const e of entries) text += `${JSON.stringify({ ledger: e.ledger, receipt: e.receipt })}\n`;
    await this.#fh.write(text);
    await this.#fh.datasync();
    this.#count += entries.length;
  }

  /**
   * Every entry, in the order written. A torn last line (the process died
   * inside a write, before its fsync returned) was never acknowledged: it is
   * left out.
   */
  async readAll(): Promise<SpoolEntry[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const lines = text.split("\n");
    const out: SpoolEntry[] = [];
    for (const [i, line] of lines.entries()) {
      if (line.length === 0) continue;
      try {
        out.push(JSON.parse(line) as SpoolEntry);
      } catch (err) {
        if (i === lines.length - 1) break;
        throw new Error(`spool ${this.path} line ${i + 1} is not JSON: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** Empties the spool (after its receipts are durable in the store). */
  async clear(): Promise<void> {
    const fh = this.#fh ?? (await open(this.path, "a", 0o600).catch(() => null));
    if (fh === null) return;
    await fh.truncate(0);
    await fh.datasync();
    if (this.#fh === null) await fh.close();
    this.#count = 0;
  }

  async close(): Promise<void> {
    await this.#fh?.close();
    this.#fh = null;
  }
}

/** A spooled receipt and the ledger disagree: the chain would fork. Nothing more of that ledger is drained. */
export class SpoolDivergenceError extends Error {
  readonly code = "SPOOL_DIVERGENCE";
  constructor(message: string) {
    super(message);
    this.name = "SpoolDivergenceError";
  }
}

/**
 * Moves every spooled receipt into the store, per ledger in seq order, and
 * empties the spool. Idempotent: a receipt already in the store (a commit
 * that timed out on our side but landed) is skipped when its hash matches,
 * so a drain interrupted by another failure can simply run again.
 */
export async function drainSpool(store: LedgerStore, spool: Spool, logger: Logger): Promise<{ receipts: number; ledgers: number }> {
  const entries = await spool.readAll();
  if (entries.length === 0) return { receipts: 0, ledgers: 0 };
  const byLedger = new Map<LedgerId, Receipt[]>();
  for (const e of entries) {
    const list = byLedger.get(e.ledger);
    if (list === undefined) byLedger.set(e.ledger, [e.receipt]);
    else list.push(e.receipt);
  }
  let written = 0;
  for (const [ledger, receipts] of byLedger) {
    receipts.sort((a, b) => a.seq - b.seq);
    const head = await store.head(ledger);
    let i = 0;
    if (receipts[0]!.seq < head.size) {
      const overlap = receipts.filter((r) => r.seq < head.size);
      const stored = await store.read(ledger, overlap[0]!.seq, overlap.length);
      for (const [k, r] of overlap.entries()) {
        if (stored[k]?.hash !== r.hash) {
          throw new SpoolDivergenceError(`ledger ${ledger}: spooled seq ${r.seq} differs from the stored receipt; the spool is kept at ${spool.path}`);
        }
      }
      i = overlap.length;
    }
    if (i < receipts.length && receipts[i]!.seq !== Math.max(head.size, receipts[0]!.seq)) {
      throw new SpoolDivergenceError(`ledger ${ledger}: the store has ${head.size} receipts but the spool continues at seq ${receipts[i]!.seq}`);
    }
    for (let from = i; from < receipts.length; from += 1000) {
      const batch = receipts.slice(from, from + 1000);
      await store.append({ ledger, expectedSeq: batch[0]!.seq, receipts: batch });
      written += batch.length;
    }
  }
  await spool.clear();
  logger.info({ receipts: entries.length, written, ledgers: byLedger.size, spool: spool.path }, "spool drained into the ledger store");
  return { receipts: entries.length, ledgers: byLedger.size };
}
