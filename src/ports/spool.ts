/**
 * Driven port: the safe-mode spool. While the ledger store is down, receipts
 * are made durable here (embedded and GCP alike: local disk) in chain order,
 * and moved into the ledger when the store answers again, or first thing on
 * the next start if the process died meanwhile.
 */
import type { LedgerId, Receipt } from "../ledger/receipt.ts";

/** One spooled receipt and its ledger. */
export interface SpoolEntry {
  readonly ledger: LedgerId;
  readonly receipt: Receipt;
}

/**
 * Guarantees every adapter gives (`test/contract/spool.ts`):
 * - `append` resolves only once its entries are durable (fsynced);
 * - `readAll` returns every entry appended and not cleared, in append order,
 *   also in a later process; an append torn by a crash, never acknowledged,
 *   is left out;
 * - `clear` empties it durably.
 */
export interface Spool {
  /** Where it is kept, for operators (log lines name it). */
  readonly path: string;
  /** Entries appended by this process and not cleared since. */
  readonly count: number;
  append(entries: readonly SpoolEntry[]): Promise<void>;
  readAll(): Promise<SpoolEntry[]>;
  /** Empties it, after its receipts are durable in the store. */
  clear(): Promise<void>;
  close(): Promise<void>;
}
