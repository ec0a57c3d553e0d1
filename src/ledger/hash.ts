/**
 * Hashing of receipts and ids. Hashes are lowercase hex at this boundary.
 *
 * - `hash` of a receipt = SHA-256(0x00 ‖ JCS(body)), body = the receipt without `hash`;
 *   this is also its RFC 6962 Merkle leaf hash.
 * - `prev_hash` of seq 0 = SHA-256("governor-ledger/v1\n" ‖ ledger id).
 */
import { createHash, hash as oneShot, randomFillSync } from "node:crypto";
import { canonicalJson } from "./canonical.ts";
import type { Receipt, ReceiptDraft } from "./receipt.ts";
import { RECEIPT_VERSION } from "./receipt.ts";

const LEAF_PREFIX = Buffer.from([0x00]);
const GENESIS_PREFIX = "governor-ledger/v1\n";

export function sha256Hex(data: string | Uint8Array): string {
  return oneShot("sha256", data, "hex");
}

/** Hex SHA-256(0x00 ‖ UTF-8(JCS(body))): a receipt's `hash` and Merkle leaf hash. */
export function leafHashHex(body: object): string {
  return createHash("sha256").update(LEAF_PREFIX).update(canonicalJson(body), "utf8").digest("hex");
}

/** The hash a receipt must carry: the leaf hash of the receipt without its `hash` field. */
export function receiptHash(receipt: { hash?: string } & object): string {
  const { hash: _hash, ...body } = receipt;
  return leafHashHex(body);
}

/** `prev_hash` of seq 0 of a ledger. */
export function genesisHash(ledger: string): string {
  return sha256Hex(GENESIS_PREFIX + ledger);
}

export interface SealContext {
  readonly ledger: string;
  readonly seq: number;
  readonly prevHash: string;
  /** `YYYY-MM-DDTHH:MM:SS.sssZ`. */
  readonly timestamp: string;
  readonly receiptId: string;
  /** Set on tenant ledgers (= the ledger id), absent on `_platform`. */
  readonly accountId?: string;
}

/** Builds the full receipt from a decision and where it goes in the ledger, and sets its hash. */
export function sealReceipt(draft: ReceiptDraft, ctx: SealContext): Receipt {
  const { operation, status, duration_ms, ...own } = draft as ReceiptDraft & Record<string, unknown>;
  const body: Record<string, unknown> = {
    v: RECEIPT_VERSION,
    receipt_id: ctx.receiptId,
    ledger: ctx.ledger,
    seq: ctx.seq,
    timestamp: ctx.timestamp,
    operation,
    status,
    duration_ms,
  };
  if (ctx.accountId !== undefined) body["account_id"] = ctx.accountId;
  for (const [k, v] of Object.entries(own)) if (v !== undefined) body[k] = v;
  body["prev_hash"] = ctx.prevHash;
  body["hash"] = leafHashHex(body);
  return body as unknown as Receipt;
}

const HEX = /^[0-9a-f]*$/;

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !HEX.test(hex)) throw new TypeError("expected lowercase hex with an even number of digits");
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** An RFC 9562 UUIDv7 for a millisecond time and 10 random bytes (74 bits are used). */
export function uuidV7(nowMs: number, random?: Uint8Array): string {
  const r = random ?? randomFillSync(new Uint8Array(10));
  const b = new Uint8Array(16);
  let t = Math.floor(nowMs);
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = 0x70 | (r[0]! & 0x0f);
  b[7] = r[1]!;
  b[8] = 0x80 | (r[2]! & 0x3f);
  for (let i = 9; i < 16; i++) b[i] = r[i - 6]!;
  const h = bytesToHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A UUIDv7 source whose ids sort in creation order, also within one
 * millisecond: rand_a (12 bits) is a counter seeded randomly each
 * millisecond (RFC 9562 §6.2, method 1); on overflow the time is advanced.
 */
export function createUuidV7Source(clock: () => number): () => string {
  let lastMs = -1;
  let counter = 0;
  const random = new Uint8Array(10);
  return () => {
    let ms = Math.floor(clock());
    randomFillSync(random);
    if (ms <= lastMs) {
      ms = lastMs;
      counter++;
      if (counter > 0xfff) {
        ms = ++lastMs;
        counter = random[1]! & 0x7f;
      }
    } else {
      lastMs = ms;
      counter = random[1]! & 0x7f; // leave head-room for the counter
    }
    random[0] = (counter >> 8) & 0x0f;
    random[1] = counter & 0xff;
    return uuidV7(ms, random);
  };
}
