/**
 * The per-line checks of verification: parse, schema, hash. Pure and
 * independent per line, so they can run on worker threads.
 */
import { receiptHash } from "./hash.ts";
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

export function checkLines(lines: readonly string[], firstLine: number): LineResult[] {
  return lines.map((text, i) => checkLine(text, firstLine + i));
}

function skipped(line: number, errors: LineIssue[]): LineResult {
  return { line, skip: true, seq: -1, hash: "", prevHash: "", timestamp: "", ledger: "", accountId: null, errors };
}

export function checkLine(text: string, line: number): LineResult {
  if (text.length === 0) return skipped(line, [{ line, code: "LINE_EMPTY", message: `line ${line}: empty line` }]);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return skipped(line, [{ line, code: "LINE_NOT_JSON", message: `line ${line}: not valid JSON` }]);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    return skipped(line, [{ line, code: "LINE_NOT_OBJECT", message: `line ${line}: not a JSON object` }]);
  }
  const r = obj as Record<string, unknown>;
  const seq = r["seq"];
  const hasSeq = typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0;
  const where = hasSeq ? `seq ${seq}` : `line ${line}`;
  const errors: LineIssue[] = [];
  const add = (code: string, message: string) => errors.push({ ...(hasSeq ? { seq: seq } : {}), line, code, message: `${where}: ${message}` });
  const op = r["operation"];
  if (typeof op !== "string") add("FIELD_MISSING", op === undefined ? 'missing field "operation"' : 'field "operation" is not a string');
  else if (!knownOperations.has(op)) add("UNKNOWN_OPERATION", `unknown operation "${op.slice(0, 64)}"`);
  else {
    const parsed = Receipt.safeParse(r);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      add(first.path.length === 1 && !(String(first.path[0]) in r) ? "FIELD_MISSING" : "SCHEMA", describe(first, r));
    }
  }
  const hash = typeof r["hash"] === "string" ? r["hash"] : "";
  if (hash === "") add("FIELD_MISSING", 'missing field "hash"');
  else {
    let computed: string | null = null;
    try {
      computed = receiptHash(r);
    } catch {
      add("HASH_UNCOMPUTABLE", "cannot be canonicalized (RFC 8785)");
    }
    if (computed !== null && computed !== hash) add("HASH_MISMATCH", "hash mismatch");
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
