/**
 * Hashing of receipts, and receipt ids. Hashes are lowercase hex strings at
 * this boundary; the Merkle tree (`merkle.ts`) works on their bytes.
 *
 * - `hash` of a receipt = hex SHA-256(0x00 ‖ UTF-8(JCS(body))), where body is
 *   the receipt without `hash`. It is also the receipt's RFC 6962 leaf hash.
 * - `prev_hash` of seq 0 = hex SHA-256(UTF-8("governor-ledger/v1\n" ‖ ledger id));
 *   of seq n, the `hash` of seq n - 1.
 */
import { hash as oneShotHash, randomFillSync } from "node:crypto";
import { canonicalJson, defineMember, inCanonicalMemberOrder, sortMemberNames } from "./canonical.ts";
import { accountIdPattern, PLATFORM_LEDGER, RECEIPT_VERSION, timestampPattern, type Receipt, type ReceiptDraft } from "./receipt.ts";

/** What precedes the ledger id in the input of a ledger's genesis `prev_hash`. */
export const GENESIS_PREFIX = "governor-ledger/v1\n";

/** Lowercase hex SHA-256 of `data` (a string is hashed as its UTF-8 bytes). */
export function sha256Hex(data: string | Uint8Array): string {
  return oneShotHash("sha256", data, "hex");
}

/**
 * Lowercase hex SHA-256(0x00 ‖ UTF-8(JCS(body))): the RFC 6962 leaf hash of
 * `body`, and the receipt `hash` when `body` is a receipt without `hash`.
 * @throws {TypeError} when `body` has no canonical JSON form (see `canonicalJson`).
 */
export function leafHashHex(body: object): string {
  return leafHashOfJcs(canonicalJson(body));
}

/** The leaf hash of a body given as its JCS text. */
export function leafHashOfJcs(jcs: string): string {
  // U+0000 is the single byte 0x00 in UTF-8: the leaf prefix travels in the same string.
  return oneShotHash("sha256", `\u0000${jcs}`, "hex");
}

/**
 * The `hash` a receipt must carry: the leaf hash of the receipt without its
 * `hash` field (whatever that field holds, or if it is absent).
 */
export function receiptHash(receipt: { hash?: string } & object): string {
  const { hash: _ignored, ...body } = receipt;
  return leafHashHex(body);
}

/** The `prev_hash` of seq 0 of `ledger`: hex SHA-256 of `governor-ledger/v1\n` followed by the ledger id. */
export function genesisHash(ledger: string): string {
  return sha256Hex(GENESIS_PREFIX + ledger);
}

/** Where a receipt goes: the fields the ledger writer fills in. */
export interface SealContext {
  readonly ledger: string;
  readonly seq: number;
  /** `hash` of the previous receipt, or `genesisHash(ledger)` for seq 0. */
  readonly prevHash: string;
  /** UTC, exactly `YYYY-MM-DDTHH:MM:SS.sssZ`. */
  readonly timestamp: string;
  /** A lowercase UUIDv7. */
  readonly receiptId: string;
  /** Set on tenant ledgers (equal to the ledger id); absent on `_platform`. */
  readonly accountId?: string;
}

const SEALED_FIELDS = new Set(["v", "receipt_id", "ledger", "seq", "timestamp", "account_id", "prev_hash", "hash"]);
/** The members the writer sets, except `hash`, in JCS order. */
const ENVELOPE_KEYS = ["account_id", "ledger", "prev_hash", "receipt_id", "seq", "timestamp", "v"] as const;
const HEX64 = /^[0-9a-f]{64}$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function sealError(what: string, value: unknown): TypeError {
  const shown = typeof value === "string" ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : String(value);
  return new TypeError(`sealReceipt: ${what}, got ${shown}`);
}

/**
 * Builds the full receipt from a decision (`draft`) and its place in the
 * ledger, and sets its `hash`. Members are in canonical (JCS) order, nested
 * objects' too (a draft's object that is not is copied), with `hash` last:
 * the receipt's JSON text without its last member is exactly the text its
 * hash covers. Draft fields set to `undefined` are left out.
 *
 * It checks the envelope it writes, not the operation's schema (that is the
 * caller's `receiptSchemas` check).
 * @throws {TypeError} naming the offending field when the context is out of
 *   format (seq not a non-negative integer, timestamp not
 *   `YYYY-MM-DDTHH:MM:SS.sssZ`, prev_hash not 64 lowercase hex digits,
 *   receipt id not a lowercase UUIDv7, ledger or account id not an id), when
 *   the draft carries a field only the ledger writer sets, or when a value
 *   has no canonical JSON form.
 */
export function sealReceipt(draft: ReceiptDraft, ctx: SealContext): Receipt {
  return sealReceiptText(draft, ctx).receipt;
}

/**
 * `sealReceipt`, with the receipt's JSON text: JCS(receipt without `hash`)
 * with `"hash"` added as its last member, which is also the receipt's own
 * `JSON.stringify`. A store that keeps receipts as text stores this one, so
 * a sealed receipt is serialized once.
 */
export function sealReceiptText(draft: ReceiptDraft, ctx: SealContext): { receipt: Receipt; text: string } {
  if (typeof draft !== "object" || draft === null) throw sealError("the draft must be an object", draft);
  if (ctx.ledger !== PLATFORM_LEDGER && !accountIdPattern.test(ctx.ledger)) throw sealError("ledger must be an account id or _platform", ctx.ledger);
  if (!Number.isSafeInteger(ctx.seq) || ctx.seq < 0) throw sealError("seq must be a non-negative integer", ctx.seq);
  if (!HEX64.test(ctx.prevHash)) throw sealError("prevHash must be 64 lowercase hex digits", ctx.prevHash);
  if (!timestampPattern.test(ctx.timestamp)) throw sealError("timestamp must be UTC YYYY-MM-DDTHH:MM:SS.sssZ", ctx.timestamp);
  if (!UUID_V7.test(ctx.receiptId)) throw sealError("receiptId must be a lowercase UUIDv7", ctx.receiptId);
  if (ctx.accountId !== undefined && !accountIdPattern.test(ctx.accountId)) throw sealError("accountId must be an account id", ctx.accountId);
  return sealWithContext(draft, ctx);
}

/**
 * `sealReceiptText` for a context its caller made itself and knows to be in
 * format: the ledger writer, which opened the ledger, computed the previous
 * hash, and formats the timestamp and the receipt id (tens of thousands of
 * receipts a second, where five pattern checks each are a measurable share).
 * The draft is checked as `sealReceiptText` checks it.
 */
export function sealWithContext(draft: ReceiptDraft, ctx: SealContext): { receipt: Receipt; text: string } {
  const source = draft as ReceiptDraft & Record<string, unknown>;
  const keys: string[] = [];
  for (const key in source) {
    if (SEALED_FIELDS.has(key)) throw new TypeError(`sealReceipt: the draft carries "${key}", which only the ledger writer sets`);
    if (source[key] !== undefined) keys.push(key);
  }
  sortMemberNames(keys);
  const envelope: Record<string, unknown> = {
    account_id: ctx.accountId,
    ledger: ctx.ledger,
    prev_hash: ctx.prevHash,
    receipt_id: ctx.receiptId,
    seq: ctx.seq,
    timestamp: ctx.timestamp,
    v: RECEIPT_VERSION,
  };
  // Both lists sorted: merge them, so the receipt's members are in JCS order (those of nested objects too).
  const receipt: Record<string, unknown> = {};
  let d = 0;
  for (const key of ENVELOPE_KEYS) {
    const value = envelope[key];
    if (value === undefined) continue;
    while (d < keys.length && keys[d]! < key) copyMember(receipt, source, keys[d++]!);
    receipt[key] = value;
  }
  while (d < keys.length) copyMember(receipt, source, keys[d++]!);
  const hashed = canonicalJson(receipt);
  const hash = leafHashOfJcs(hashed);
  receipt["hash"] = hash;
  // The receipt has members (v, …), so its JCS text ends in "}" after at least one.
  return { receipt: receipt as unknown as Receipt, text: `${hashed.slice(0, -1)},"hash":"${hash}"}` };
}

function copyMember(receipt: Record<string, unknown>, draft: Record<string, unknown>, key: string): void {
  const value = draft[key];
  defineMember(receipt, key, typeof value === "object" && value !== null ? inCanonicalMemberOrder(value) : value);
}

/**
 * The bytes of a hex string (either case, even length).
 * @throws {TypeError} saying where the string is not hex.
 */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== "string") throw new TypeError(`expected a hex string, got ${typeof hex}`);
  if (hex.length % 2 !== 0) throw new TypeError(`hex string has an odd number of digits (${hex.length})`);
  const bad = hex.search(/[^0-9a-fA-F]/);
  if (bad >= 0) throw new TypeError(`hex string has a non-hex character at position ${bad}`);
  const buf = Buffer.from(hex, "hex");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice();
}

/** Lowercase hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`expected a Uint8Array, got ${typeof bytes}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

const MAX_UUID_MS = 2 ** 48 - 1;
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function checkUuidTime(ms: number): number {
  const t = Math.floor(ms);
  if (!Number.isFinite(ms) || t < 0 || t > MAX_UUID_MS) throw new RangeError(`UUIDv7 time must be milliseconds within 0..2^48-1, got ${String(ms)}`);
  return t;
}

/** Formats 16 bytes as a lowercase 8-4-4-4-12 UUID string. */
function formatUuid(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX_BYTE[b[i]!]!;
  }
  return s;
}

/** Writes the 48-bit big-endian millisecond time into bytes 0–5. */
function putTime(b: Uint8Array, ms: number): void {
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
}

/**
 * An RFC 9562 UUIDv7 (lowercase): 48-bit Unix time in milliseconds
 * (`nowMs`, floored), version 7, variant 0b10, and 74 bits taken from
 * `random` (the low 4 bits of byte 0, byte 1, the low 6 bits of byte 2,
 * bytes 3–9), or from the system CSPRNG when not given.
 * @throws {RangeError} when `nowMs` is outside 0..2^48-1 or `random` has fewer than 10 bytes.
 */
export function uuidV7(nowMs: number, random?: Uint8Array): string {
  const ms = checkUuidTime(nowMs);
  if (random !== undefined && random.length < 10) throw new RangeError(`UUIDv7 needs 10 random bytes, got ${random.length}`);
  const r = random ?? randomFillSync(new Uint8Array(10));
  const b = new Uint8Array(16);
  putTime(b, ms);
  b[6] = 0x70 | (r[0]! & 0x0f);
  b[7] = r[1]!;
  b[8] = 0x80 | (r[2]! & 0x3f);
  for (let i = 9; i < 16; i++) b[i] = r[i - 6]!;
  return formatUuid(b);
}

/** Bits of the per-millisecond counter (RFC 9562 §6.2 method 1 allows 12 to 42). */
const COUNTER_BITS = 42;
const COUNTER_MAX = 2 ** COUNTER_BITS - 1;
const RAND_A_SPLIT = 2 ** 30;

/**
 * A source of UUIDv7 ids that sort (as strings and as bytes) in the order
 * they were made, also within one millisecond and when `clock` steps back:
 * RFC 9562 §6.2 method 1 (fixed-length dedicated counter). The 42-bit
 * counter fills rand_a and the top 30 bits of rand_b; it starts at a random
 * value below 2^41 (leaving room to count) each new millisecond and counts
 * up within it. A clock that steps back is treated as the last millisecond
 * seen; a counter overflow moves the id's time one millisecond ahead. The
 * last 32 bits are fresh random bits.
 */
export function createUuidV7Source(clock: () => number): () => string {
  let lastMs = -1;
  let counter = 0;
  const pool = new Uint8Array(4096);
  let used = pool.length;
  const randomBytes = (n: number): number => {
    if (used + n > pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    const at = used;
    used += n;
    return at;
  };
  const freshCounter = (): number => {
    const at = randomBytes(6);
    // 48 random bits, halved 7 times: a counter start below 2^41.
    let x = 0;
    for (let i = 0; i < 6; i++) x = x * 256 + pool[at + i]!;
    return Math.floor(x / 128);
  };
  // The first 14 characters ("tttttttt-tttt-") change once a millisecond: made once for it.
  let timePart = "";
  return () => {
    const now = checkUuidTime(clock());
    if (now > lastMs) {
      lastMs = now;
      counter = freshCounter();
      timePart = timeHex(lastMs);
    } else if (counter < COUNTER_MAX) {
      counter++;
    } else {
      lastMs = checkUuidTime(lastMs + 1);
      counter = freshCounter();
      timePart = timeHex(lastMs);
    }
    const high = Math.floor(counter / RAND_A_SPLIT); // 12 bits: rand_a
    const low = counter % RAND_A_SPLIT; // 30 bits: the top of rand_b, after the variant
    const at = randomBytes(4);
    return (
      timePart +
      HEX_BYTE[0x70 | (high >>> 8)]! +
      HEX_BYTE[high & 0xff]! +
      "-" +
      HEX_BYTE[0x80 | (low >>> 24)]! +
      HEX_BYTE[(low >>> 16) & 0xff]! +
      "-" +
      HEX_BYTE[(low >>> 8) & 0xff]! +
      HEX_BYTE[low & 0xff]! +
      HEX_BYTE[pool[at]!]! +
      HEX_BYTE[pool[at + 1]!]! +
      HEX_BYTE[pool[at + 2]!]! +
      HEX_BYTE[pool[at + 3]!]!
    );
  };
}

/** "tttttttt-tttt-": the 48-bit millisecond time of a UUIDv7, as its first two groups. */
function timeHex(ms: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-`;
}
