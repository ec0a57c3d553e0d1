/**
 * Bounds on JSON text that Governor takes from outside: request bodies,
 * Pub/Sub messages, policy documents, and receipt lines given to the
 * verifier. Every bound is checked on the text itself, in one pass and
 * without recursion, before `JSON.parse` hands a value to anything that
 * hashes, canonicalizes or decides on it: a value nested 1,000 levels deep
 * parses fine, then overflows the stack of every recursive consumer after it.
 *
 * The scanner checks bounds, not grammar: what it passes still goes through
 * `JSON.parse`, which rejects what is not JSON. On text that is not JSON it
 * may report a bound or nothing; it never throws and never loops.
 */
import { isUtf8 } from "node:buffer";

/** The bounds, each with one documented limit (README, HTTP API; receipts/SPEC.md). */
export interface JsonLimits {
  /** Containers nested in one another; the outermost object or array is level 1. */
  readonly maxDepth: number;
  /** Object members plus array elements, counted over the whole text. */
  readonly maxMembers: number;
  /** Length of any string, member names included, in UTF-16 code units (escapes decoded). */
  readonly maxStringLength: number;
}

/**
 * The limits at every edge. No real signal, event or policy comes near them;
 * within them canonicalization, hashing and schema validation are safe.
 */
export const JSON_LIMITS: JsonLimits = { maxDepth: 32, maxMembers: 10_000, maxStringLength: 65_536 };

/**
 * The limits of one receipt line: the same depth and string length (a
 * receipt's `params` sit as deep as a signal body's), and the members a
 * signal body may hold plus the receipt's own fields.
 */
export const RECEIPT_JSON_LIMITS: JsonLimits = { maxDepth: 32, maxMembers: 10_100, maxStringLength: 65_536 };

/** Integers beyond this lose digits as IEEE 754 doubles (I-JSON, RFC 7493 §2.2). */
const MAX_EXACT_INTEGER = Number.MAX_SAFE_INTEGER;

/** What went wrong, as a stable suffix: the HTTP API answers `BODY_<kind>`. */
export const JsonViolationKind = {
  tooDeep: "TOO_DEEP",
  tooManyMembers: "TOO_MANY_MEMBERS",
  stringTooLong: "STRING_TOO_LONG",
  numberOutOfRange: "NUMBER_OUT_OF_RANGE",
  duplicateMember: "DUPLICATE_MEMBER",
  numberNotCanonical: "NUMBER_NOT_CANONICAL",
} as const;
export type JsonViolationKind = (typeof JsonViolationKind)[keyof typeof JsonViolationKind];

export interface JsonViolation {
  readonly kind: JsonViolationKind;
  /** Where, as a JSONPath-like string (`$.params.x[0]`), and what to fix. */
  readonly message: string;
}

export interface ScanOptions {
  /** Refuse an object with two members of the same name (I-JSON, RFC 7493 §2.3). Default true. */
  readonly duplicates?: boolean;
  /**
   * Refuse a number not written as ECMAScript writes it (`1.0`, `1e2`,
   * `-0`): RFC 8785 hashes that form, so a receipt written another way
   * is not as Governor produced it. Default false.
   */
  readonly canonicalNumbers?: boolean;
}

// Scratch per nesting level, shared by every scan: a scan runs to its end without yielding.
const CAPACITY = 1024;
const isArray = new Uint8Array(CAPACITY);
const elementIndex = new Int32Array(CAPACITY);
const keyStart = new Int32Array(CAPACITY);
const keyEnd = new Int32Array(CAPACITY);
// Member names of the open objects, innermost last: where each starts and ends (quotes
// included) and whether it has escapes; `namesFrom[depth]` is where its object's names begin.
const nameStart: number[] = [];
const nameEnd: number[] = [];
const namePlain: boolean[] = [];
const namesFrom = new Int32Array(CAPACITY);
/** Index (into the lists above) of the greatest name of each open object so far. */
const greatest = new Int32Array(CAPACITY);
/** Names of an object that were not in order, checked one by one; past a few, a Set takes over. */
const outOfOrder = new Int32Array(CAPACITY);
const nameSets: (Set<string> | undefined)[] = [];
const MAX_OUT_OF_ORDER = 16;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Checks `text` against `limits` in one pass. Returns the first bound it
 * breaks, or null (then `JSON.parse(text)` is within the limits, if it parses).
 */
export function scanJson(text: string, limits: JsonLimits = JSON_LIMITS, options: ScanOptions = {}): JsonViolation | null {
  const checkDuplicates = options.duplicates ?? true;
  const canonicalNumbers = options.canonicalNumbers ?? false;
  const maxDepth = Math.min(limits.maxDepth, CAPACITY - 1);
  const { maxMembers, maxStringLength } = limits;
  const n = text.length;
  let depth = 0;
  let members = 0;
  // In an object, the next string is a member name.
  let expectKey = false;
  // The next backslash at or after the current string, -1 when there is none left: looked up
  // again only once passed, so texts with many strings and no escapes stay one pass. (Looked up
  // first at the first string: a lookup before the loop makes V8's optimized loop far slower.)
  let backslash = 0;
  // Top of the member-name lists.
  let names = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i + 1);
      if (end < 0) return null; // unterminated: JSON.parse says so
      if (backslash >= 0 && backslash <= i) backslash = text.indexOf("\\", i + 1);
      const plain = backslash < 0 || backslash > end;
      const length = plain ? end - i - 1 : decodedLength(text, i + 1, end);
      if (expectKey) {
        if (length > maxStringLength) return { kind: JsonViolationKind.stringTooLong, message: `${where(text, depth - 1)} has a member name of ${length} characters; the limit is ${maxStringLength}` };
        if (++members > maxMembers) return tooMany(text, depth - 1, maxMembers);
        if (checkDuplicates && repeated(text, depth, names, i, end + 1, plain)) {
          return { kind: JsonViolationKind.duplicateMember, message: `${where(text, depth - 1)} has the member ${JSON.stringify(nameOf(text, i, end + 1, plain).slice(0, 64))} more than once` };
        }
        nameStart[names] = i;
        nameEnd[names] = end + 1;
        namePlain[names] = plain;
        names++;
        keyStart[depth] = i;
        keyEnd[depth] = end + 1;
        expectKey = false;
      } else {
        if (depth > 0 && isArray[depth] === 1) {
          elementIndex[depth]!++;
          if (++members > maxMembers) return tooMany(text, depth, maxMembers);
        }
        if (length > maxStringLength) return { kind: JsonViolationKind.stringTooLong, message: `${where(text, depth)} is a string of ${length} characters; the limit is ${maxStringLength}` };
      }
      i = end + 1;
      continue;
    }
    switch (c) {
      case 0x7b: // {
      case 0x5b: // [
        if (depth > 0 && isArray[depth] === 1) {
          elementIndex[depth]!++;
          if (++members > maxMembers) return tooMany(text, depth, maxMembers);
        }
        if (depth + 1 > maxDepth) return { kind: JsonViolationKind.tooDeep, message: `${where(text, depth)} is nested more than ${limits.maxDepth} levels deep` };
        depth++;
        isArray[depth] = c === 0x5b ? 1 : 0;
        elementIndex[depth] = -1;
        keyStart[depth] = -1;
        namesFrom[depth] = names;
        greatest[depth] = -1;
        outOfOrder[depth] = 0;
        nameSets[depth] = undefined;
        expectKey = c === 0x7b;
        i++;
        continue;
      case 0x7d: // }
      case 0x5d: // ]
        if (depth > 0) {
          if (isArray[depth] === 0) names = namesFrom[depth]!;
          depth--;
        }
        expectKey = false;
        i++;
        continue;
      case 0x2c: // ,
        expectKey = depth > 0 && isArray[depth] === 0;
        i++;
        continue;
      case 0x20:
      case 0x09:
      case 0x0a:
      case 0x0d:
      case 0x3a: // :
        i++;
        continue;
      default:
        break;
    }
    // A number or a literal (true, false, null), or something JSON.parse refuses.
    let j = i + 1;
    while (j < n && isTokenChar(text.charCodeAt(j))) j++;
    if (depth > 0 && isArray[depth] === 1) {
      elementIndex[depth]!++;
      if (++members > maxMembers) return tooMany(text, depth, maxMembers);
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const problem = checkNumber(text, i, j, canonicalNumbers);
      if (problem !== null) {
        const shown = j - i > 40 ? `${text.slice(i, i + 40)}…` : text.slice(i, j);
        return { kind: problem.kind, message: `${where(text, depth)} is ${shown}: ${problem.message}` };
      }
    }
    i = j;
  }
  return null;
}

function tooMany(text: string, depth: number, maxMembers: number): JsonViolation {
  return { kind: JsonViolationKind.tooManyMembers, message: `more than ${maxMembers} members (object members and array elements) in all, reached at ${where(text, depth)}` };
}

/** Index of the quote that ends the string whose content starts at `from`, or -1. */
function stringEnd(text: string, from: number): number {
  let j = from;
  for (;;) {
    const q = text.indexOf('"', j);
    if (q < 0) return -1;
    // The quote is escaped when an odd number of backslashes precede it.
    let b = q - 1;
    while (b >= from && text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    j = q + 1;
  }
}

/** UTF-16 length of the string between `from` and `end` once its escapes are decoded. */
function decodedLength(text: string, from: number, end: number): number {
  let length = 0;
  for (let k = from; k < end; k++) {
    if (text.charCodeAt(k) === BACKSLASH) k += text.charCodeAt(k + 1) === 0x75 ? 5 : 1; // \uXXXX or \n, \", …
    length++;
  }
  return length;
}

function isTokenChar(c: number): boolean {
  // Digits, letters (literals, exponents), '+', '-', '.'.
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2b || c === 0x2d || c === 0x2e;
}

/**
 * True when the object open at `depth` already has the member name quoted at
 * `start`..`end`. Objects usually come with their names in order (receipts
 * are written in canonical order): a name greater than every name before it
 * is new, at the cost of one comparison. Names out of order are compared with
 * the object's earlier names; past a few of them, or when escapes make the
 * text differ from the name, the object's names go into a Set.
 */
function repeated(text: string, depth: number, names: number, start: number, end: number, plain: boolean): boolean {
  const set = nameSets[depth];
  if (set !== undefined) return addNew(set, nameOf(text, start, end, plain));
  const first = namesFrom[depth]!;
  const max = greatest[depth]!;
  if (max < 0) {
    greatest[depth] = names;
    return false;
  }
  if (plain && namePlain[max] === true && compareQuoted(text, nameStart[max]!, nameEnd[max]!, start, end) < 0) {
    greatest[depth] = names;
    return false;
  }
  if (plain && ++outOfOrder[depth]! <= MAX_OUT_OF_ORDER) {
    for (let k = first; k < names; k++) {
      if (namePlain[k] === true && compareQuoted(text, nameStart[k]!, nameEnd[k]!, start, end) === 0) return true;
    }
    // Names with escapes were never compared as text: only a Set decides about them.
    for (let k = first; k < names; k++) if (namePlain[k] !== true) return toSet(text, depth, first, names, start, end, plain);
    return false;
  }
  return toSet(text, depth, first, names, start, end, plain);
}

function toSet(text: string, depth: number, first: number, names: number, start: number, end: number, plain: boolean): boolean {
  const set = new Set<string>();
  for (let k = first; k < names; k++) set.add(nameOf(text, nameStart[k]!, nameEnd[k]!, namePlain[k] === true));
  nameSets[depth] = set;
  return addNew(set, nameOf(text, start, end, plain));
}

function addNew(set: Set<string>, name: string): boolean {
  if (set.has(name)) return true;
  set.add(name);
  return false;
}

/** The member name quoted at `start`..`end`, escapes decoded. */
function nameOf(text: string, start: number, end: number, plain: boolean): string {
  return plain ? text.slice(start + 1, end - 1) : (JSON.parse(text.slice(start, end)) as string);
}

/** Compares two quoted names without escapes by UTF-16 code units, as strings compare. */
function compareQuoted(text: string, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const n = Math.min(aLength, bLength) - 1;
  for (let k = 1; k < n; k++) {
    const d = text.charCodeAt(aStart + k) - text.charCodeAt(bStart + k);
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/**
 * An integer written without fraction or exponent must be exact as a double
 * (within ±(2^53 − 1)); any number must be finite (`1e400` parses as
 * Infinity, which JSON cannot write back).
 */
function checkNumber(text: string, from: number, to: number, canonical: boolean): { kind: JsonViolationKind; message: string } | null {
  let integer = true;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c === 0x2e || c === 0x65 || c === 0x45) {
      integer = false;
      break;
    }
  }
  const digits = to - from - (text.charCodeAt(from) === 0x2d ? 1 : 0);
  if (integer) {
    // Up to 15 digits is always exact; only longer ones need a look.
    if (digits > 15 && !(Math.abs(Number(text.slice(from, to))) <= MAX_EXACT_INTEGER)) {
      return { kind: JsonViolationKind.numberOutOfRange, message: `integers must be within ±${MAX_EXACT_INTEGER} (2^53 − 1); send larger ones as strings` };
    }
    if (canonical && to - from === 2 && text.charCodeAt(from) === 0x2d && text.charCodeAt(from + 1) === 0x30) {
      return { kind: JsonViolationKind.numberNotCanonical, message: "-0 is written 0 in canonical JSON (RFC 8785)" };
    }
    return null;
  }
  const token = text.slice(from, to);
  const value = Number(token);
  if (!Number.isFinite(value)) {
    // NaN here is text JSON.parse refuses anyway; only an overflow is a bound.
    return Number.isNaN(value) ? null : { kind: JsonViolationKind.numberOutOfRange, message: "the number is too large to be a finite double" };
  }
  if (canonical && String(value) !== token) {
    return { kind: JsonViolationKind.numberNotCanonical, message: `canonical JSON (RFC 8785) writes this number ${String(value)}` };
  }
  return null;
}

/** The path of the value being read at `depth`, for messages: `$.params.x[0][0]`. */
function where(text: string, depth: number): string {
  let path = "$";
  for (let d = 1; d <= depth && d < CAPACITY; d++) {
    if (path.length > 120) return `${path}…`;
    if (isArray[d] === 1) {
      if (elementIndex[d]! >= 0) path += `[${elementIndex[d]}]`;
    } else if (keyStart[d]! >= 0) {
      const raw = text.slice(keyStart[d], Math.min(keyEnd[d]!, keyStart[d]! + 66));
      const name = raw.endsWith('"') && raw.length > 1 ? safeName(raw) : `${raw.slice(1)}…`;
      path += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
    }
  }
  return path;
}

function safeName(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}

/** Why `parseBoundedJson` refused a text. */
export class JsonLimitError extends Error {
  readonly kind: JsonViolationKind | "INVALID_JSON" | "TOO_LARGE" | "INVALID_UTF8";
  constructor(kind: JsonLimitError["kind"], message: string) {
    super(message);
    this.name = "JsonLimitError";
    this.kind = kind;
  }
}

/**
 * `JSON.parse(text)` once the text is within `limits`.
 * @throws {JsonLimitError} naming the bound broken, or `INVALID_JSON`.
 */
export function parseBoundedJson(text: string, limits: JsonLimits = JSON_LIMITS, options: ScanOptions = {}): unknown {
  const problem = scanJson(text, limits, options);
  if (problem !== null) throw new JsonLimitError(problem.kind, problem.message);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new JsonLimitError("INVALID_JSON", `not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * `parseBoundedJson` of bytes (a Pub/Sub message's data): at most `maxBytes`
 * of them, UTF-8 (RFC 8259 §8.1; a lenient decoder would put U+FFFD in place
 * of bad bytes, changing the value that is then hashed), then the limits.
 * @throws {JsonLimitError}
 */
export function parseBoundedJsonBytes(bytes: Uint8Array, maxBytes: number, limits: JsonLimits = JSON_LIMITS): unknown {
  if (bytes.byteLength > maxBytes) throw new JsonLimitError("TOO_LARGE", `${bytes.byteLength} bytes is over the limit of ${maxBytes}`);
  if (!isUtf8(bytes)) throw new JsonLimitError("INVALID_UTF8", "not valid UTF-8 (JSON text must be UTF-8)");
  return parseBoundedJson(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), limits);
}
