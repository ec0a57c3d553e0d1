/**
 * The per-line checks of verification: UTF-8, parse, I-JSON and the JSON
 * limits, schema, real timestamps, hash. Pure and independent per line, so
 * they can run on worker threads.
 */
import { canonicalJson } from "./canonical.ts";
import { leafHashOfJcs } from "./hash.ts";
import { JsonViolationKind, RECEIPT_JSON_LIMITS, scanJson } from "./json-limits.ts";
import { operations, Receipt } from "./receipt.ts";

export interface LineIssue {
  readonly seq?: number;
  readonly line: number;
  readonly code: string;
  readonly message: string;
}

/** What the ordered checks need of one line. `skip`: no usable seq, nothing to link. */
export interface LineResult {
  readonly line: number;
  readonly skip: boolean;
  readonly seq: number;
  readonly hash: string;
  readonly prevHash: string;
  readonly timestamp: string;
  readonly ledger: string;
  readonly accountId: string | null;
  readonly errors: LineIssue[];
}

const knownOperations = new Set<string>(operations);

function describe(issue: { code: string; path: PropertyKey[]; message: string; input?: unknown }, obj: Record<string, unknown>): string {
  const field = issue.path.map(String).join(".");
  if (issue.path.length === 1 && !(String(issue.path[0]) in obj)) return `missing field "${field}"`;
  if (issue.code === "unrecognized_keys") return `unknown field(s): ${issue.message.replace(/^Unrecognized keys?: /, "")}`;
  return `field "${field}": ${issue.message}`;
}

/** Checks a batch of lines; `notUtf8` lists the batch indexes of lines whose bytes were not UTF-8. */
export function checkLines(lines: readonly string[], firstLine: number, notUtf8: readonly number[] = []): LineResult[] {
  const bad = new Set(notUtf8);
  return lines.map((text, i) => checkLine(text, firstLine + i, bad.has(i)));
}

/** What each JSON bound broken by a line is reported as. */
const violationCode: Record<JsonViolationKind, string> = {
  [JsonViolationKind.tooDeep]: "JSON_TOO_DEEP",
  [JsonViolationKind.tooManyMembers]: "JSON_TOO_MANY_MEMBERS",
  [JsonViolationKind.stringTooLong]: "JSON_STRING_TOO_LONG",
  [JsonViolationKind.numberOutOfRange]: "NUMBER_OUT_OF_RANGE",
  [JsonViolationKind.duplicateMember]: "DUPLICATE_MEMBER",
  [JsonViolationKind.numberNotCanonical]: "NUMBER_NOT_CANONICAL",
};

/** Bounds past which a line is not checked further: its schema and hash checks recurse over it. */
const unbounded = new Set<JsonViolationKind>([JsonViolationKind.tooDeep, JsonViolationKind.tooManyMembers, JsonViolationKind.stringTooLong]);

function skipped(line: number, errors: LineIssue[]): LineResult {
  return { line, skip: true, seq: -1, hash: "", prevHash: "", timestamp: "", ledger: "", accountId: null, errors };
}

/** Checks one line of receipts.jsonl; `notUtf8`: its bytes were not UTF-8 (it was decoded with U+FFFD in their place). */
export function checkLine(text: string, line: number, notUtf8 = false): LineResult {
  const utf8Issue: LineIssue[] = notUtf8 ? [{ line, code: "INVALID_UTF8", message: `line ${line}: not valid UTF-8` }] : [];
  if (text.length === 0) return skipped(line, [...utf8Issue, { line, code: "LINE_EMPTY", message: `line ${line}: empty line` }]);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return skipped(line, [...utf8Issue, { line, code: "LINE_NOT_JSON", message: `line ${line}: not valid JSON` }]);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    return skipped(line, [...utf8Issue, { line, code: "LINE_NOT_OBJECT", message: `line ${line}: not a JSON object` }]);
  }
  const r = obj as Record<string, unknown>;
  const seq = r["seq"];
  const hasSeq = typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0;
  const where = hasSeq ? `seq ${seq}` : `line ${line}`;
  const errors: LineIssue[] = [];
  const add = (code: string, message: string) => errors.push({ ...(hasSeq ? { seq: seq } : {}), line, code, message: `${where}: ${message}` });
  if (notUtf8) add("INVALID_UTF8", "not valid UTF-8 (RFC 8259 §8.1): the line has bytes that are not UTF-8");
  // What JSON.parse cannot show: a member name twice (it keeps the last), numbers not in the form
  // that was hashed, and the limits every receipt is within (receipts/SPEC.md §2.3). A line that
  // is within the limits on its face and, once hashed, is the canonical text of what it parses to
  // (as Governor writes every line) has neither a name twice nor another number form: only other
  // lines are scanned, which keeps the usual line's cost to a few lookups.
  const onItsFace = withinLimitsOnItsFace(text);
  let violation = onItsFace ? null : scanJson(text, RECEIPT_JSON_LIMITS, { canonicalNumbers: true });
  const reportAt = errors.length;
  const bounded = violation === null || !unbounded.has(violation.kind);
  const op = r["operation"];
  if (typeof op !== "string") add("FIELD_MISSING", op === undefined ? 'missing field "operation"' : 'field "operation" is not a string');
  else if (!knownOperations.has(op)) add("UNKNOWN_OPERATION", `unknown operation "${op.slice(0, 64)}"`);
  else if (bounded) {
    const parsed = Receipt.safeParse(r);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      add(first.path.length === 1 && !(String(first.path[0]) in r) ? "FIELD_MISSING" : "SCHEMA", describe(first, r));
    } else {
      for (const field of timestampFields) {
        const value = r[field];
        if (typeof value === "string" && !isRealTimestamp(value)) add("TIMESTAMP_INVALID", `field "${field}": ${value} is not a real UTC date and time`);
      }
    }
  }
  const hash = typeof r["hash"] === "string" ? r["hash"] : "";
  let jcs: string | null = null;
  if (hash === "") add("FIELD_MISSING", 'missing field "hash"');
  else if (bounded) {
    let computed: string | null = null;
    try {
      const { hash: _stored, ...body } = r;
      jcs = canonicalJson(body);
      computed = leafHashOfJcs(jcs);
    } catch {
      add("HASH_UNCOMPUTABLE", "cannot be canonicalized (RFC 8785)");
    }
    if (computed !== null && computed !== hash) add("HASH_MISMATCH", "hash mismatch");
  }
  if (onItsFace && (jcs === null || text !== `${jcs.slice(0, -1)}${jcs.length > 2 ? "," : ""}"hash":${JSON.stringify(hash)}}`)) {
    violation = scanJson(text, RECEIPT_JSON_LIMITS, { canonicalNumbers: true });
  }
  if (violation !== null) {
    errors.splice(reportAt, 0, { ...(hasSeq ? { seq: seq } : {}), line, code: violationCode[violation.kind], message: `${where}: ${violation.message}` });
  }
  if (!hasSeq) return skipped(line, errors.length > 0 ? errors : [{ line, code: "FIELD_MISSING", message: `line ${line}: missing field "seq"` }]);
  return {
    line,
    skip: false,
    seq: seq,
    hash,
    prevHash: typeof r["prev_hash"] === "string" ? r["prev_hash"] : "",
    timestamp: typeof r["timestamp"] === "string" ? r["timestamp"] : "",
    ledger: typeof r["ledger"] === "string" ? r["ledger"] : "",
    accountId: typeof r["account_id"] === "string" ? r["account_id"] : null,
    errors,
  };
}

/** A number of 16 digits or more, as canonical JSON writes integers (strings that look so only cost a scan). */
const longInteger = /[:,[]-?\d{16}/;

/**
 * True when no JSON text this long, with this few brackets and no integer
 * this long, can break a receipt limit: each member takes at least two
 * characters, each level a bracket, and an integer beyond 2^53 - 1 sixteen digits.
 */
function withinLimitsOnItsFace(text: string): boolean {
  if (text.length > 2 * RECEIPT_JSON_LIMITS.maxMembers || text.length > RECEIPT_JSON_LIMITS.maxStringLength || longInteger.test(text)) return false;
  let brackets = 0;
  for (const bracket of ["{", "["]) {
    for (let at = text.indexOf(bracket); at >= 0; at = text.indexOf(bracket, at + 1)) {
      if (++brackets > RECEIPT_JSON_LIMITS.maxDepth) return false;
    }
  }
  return true;
}

/** Fields that hold a receipt timestamp (`YYYY-MM-DDTHH:MM:SS.sssZ`, which the schema checks; `timestamp` in receipt.ts). */
const timestampFields = ["timestamp", "deadline"] as const;

// Receipts of a ledger mostly share their date: the last one found real is remembered.
let realDate = "";

/**
 * True when a timestamp of the receipt form names an instant that exists:
 * no 2026-02-30, no hour 24, no second 60 (UTC has no leap seconds here,
 * as in JavaScript's Date). The form itself is the schema's to check.
 */
export function isRealTimestamp(timestamp: string): boolean {
  const hour = Number(timestamp.slice(11, 13));
  const minute = Number(timestamp.slice(14, 16));
  const second = Number(timestamp.slice(17, 19));
  if (!(hour <= 23 && minute <= 59 && second <= 59)) return false;
  const date = timestamp.slice(0, 10);
  if (date === realDate) return true;
  const year = Number(date.slice(0, 4));
  const month = Number(date.slice(5, 7));
  const day = Number(date.slice(8, 10));
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return false;
  realDate = date;
  return true;
}
