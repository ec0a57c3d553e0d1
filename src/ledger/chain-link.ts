/**
 * Following a ledger's chain as it is read: every receipt must be the next
 * seq of its ledger and link to the one before it (`prev_hash` = the hash of
 * the receipt before, the genesis hash at seq 0). What signs or continues a
 * chain read from a store checks this first, so that nothing is ever signed
 * over, or appended to, a chain that does not link.
 */
import { genesisHash } from "./hash.ts";

/** A chain read from storage does not link (a fork, a gap, a receipt out of place). */
export class ChainBrokenError extends Error {
  readonly code = "LEDGER_CHAIN_BROKEN";
  readonly ledger: string;
  /** The seq where the chain stops linking. */
  readonly seq: number;
  constructor(ledger: string, seq: number, message: string) {
    super(message);
    this.name = "ChainBrokenError";
    this.ledger = ledger;
    this.seq = seq;
  }
}

/** Checks receipts one by one, in seq order, from seq 0 or from a receipt known to be in the chain. */
export class ChainLink {
  readonly #ledger: string;
  #seq: number;
  #hash: string;

  /** From the start of `ledger`, or after the receipt `after` (its seq and hash). */
  constructor(ledger: string, after?: { seq: number; hash: string }) {
    this.#ledger = ledger;
    this.#seq = after === undefined ? 0 : after.seq + 1;
    this.#hash = after === undefined ? genesisHash(ledger) : after.hash;
  }

  /** The seq the next receipt must have. */
  get size(): number {
    return this.#seq;
  }

  /** The hash of the last receipt that linked (the genesis hash before any). */
  get lastHash(): string {
    return this.#hash;
  }

  /** Takes the next receipt, or throws ChainBrokenError naming where and why it does not link. */
  next(r: { readonly ledger?: unknown; readonly seq?: unknown; readonly prev_hash?: unknown; readonly hash?: unknown }): void {
    const where = `ledger ${this.#ledger}: seq ${this.#seq}`;
    if (r.seq !== this.#seq) throw new ChainBrokenError(this.#ledger, this.#seq, `${where}: the receipt read there has seq ${String(r.seq)}`);
    if (r.ledger !== this.#ledger) throw new ChainBrokenError(this.#ledger, this.#seq, `${where}: the receipt belongs to ledger ${String(r.ledger).slice(0, 80)}`);
    if (r.prev_hash !== this.#hash) {
      throw new ChainBrokenError(this.#ledger, this.#seq, `${where}: prev_hash ${String(r.prev_hash).slice(0, 16)}… does not link to the hash ${this.#hash.slice(0, 16)}… of the receipt before it`);
    }
    if (typeof r.hash !== "string" || !/^[0-9a-f]{64}$/.test(r.hash)) throw new ChainBrokenError(this.#ledger, this.#seq, `${where}: the receipt's hash is not 64 lowercase hex digits`);
    this.#hash = r.hash;
    this.#seq++;
  }
}
