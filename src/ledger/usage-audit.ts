/**
 * Usage billed from receipts, recomputed from a ledger alone (SPEC.md, "Usage
 * billed from receipts"). Each `usage_reported` receipt names a window and the
 * receipts it counts; the audit recounts them, recomputes the operation id,
 * and checks that the closed windows follow one another with no gap.
 *
 * The reporter (src/app/usage-reporter.ts) derives its operation ids with the
 * same function, so what is billed and what is audited cannot drift apart.
 */
import { createHash } from "node:crypto";
import { receiptSchemas, type Receipt, type ReceiptOf } from "./receipt.ts";

/** The longest window a report may cover. */
export const USAGE_WINDOW_MAX_MS = 3_600_000;

/** What names one window: the input of its operation id. */
export interface UsageWindowKey {
  readonly entitlementId: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly startTime: string;
  readonly endTime: string;
  /** `hash` of receipt `toSeq`, or of receipt `fromSeq - 1` when the window counts none. */
  readonly anchorHash: string;
}

/**
 * The operation id of a window: SHA-256 over the UTF-8 bytes of
 * `governor-usage/v1\n` followed by the entitlement id, from_seq, to_seq,
 * start_time, end_time and the anchor hash, each ended by `\n`; its first 16
 * bytes, with the version nibble set to 8 and the variant bits to 10 (an RFC
 * 9562 UUIDv8), written as a lowercase UUID.
 */
export function usageOperationId(w: UsageWindowKey): string {
  const input = `governor-usage/v1\n${w.entitlementId}\n${w.fromSeq}\n${w.toSeq}\n${w.startTime}\n${w.endTime}\n${w.anchorHash}\n`;
  const b = createHash("sha256").update(input, "utf8").digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** One problem with a usage report, in plain words. */
export interface UsageMismatch {
  readonly seq: number;
  readonly code: string;
  readonly message: string;
}

/** What the audit found in one ledger. */
export interface UsageAuditReport {
  readonly ledger: string | null;
  /** `usage_reported` receipts with status success (the windows billed). */
  readonly reports: number;
  /** Total billed per metric (the name sent to Service Control). */
  readonly billed: Record<string, number>;
  readonly mismatches: readonly UsageMismatch[];
}

/** What the audit needs of a receipt: every receipt's place, and the whole of the few it reads. */
export interface AuditedReceipt {
  readonly seq: number;
  readonly timestamp: string;
  readonly hash: string;
  readonly operation: string | null;
  /** The receipt itself, for `entitlement_active` and `usage_reported`. */
  readonly receipt?: Receipt;
}

const MAX_MISMATCHES = 100;
const COUNTED = ["action_complete", "action_started"] as const;

/**
 * Recomputes the usage reports of one ledger, fed its receipts in seq order.
 * Keeps per receipt only a count, and the hash and timestamp of receipts a
 * report may still name (from the start of the next window on).
 */
export class UsageAudit {
  #ledger: string | null = null;
  #reports = 0;
  readonly #billed: Record<string, number> = {};
  readonly #mismatches: UsageMismatch[] = [];
  #billing: { entitlementId: string; usageReportingId: string; nextTime: string; nextSeq: number } | null = null;
  /** Receipts kept from seq `#base` on: counts before each (prefix sums), hashes, timestamps. */
  #base = 0;
  #prefix: Record<(typeof COUNTED)[number], number[]> = { action_complete: [0], action_started: [0] };
  #hashes: string[] = [];
  #times: string[] = [];
  #next = 0;

  /** Sets the ledger's id (for the report). */
  ledger(id: string): void {
    this.#ledger ??= id;
  }

  add(r: AuditedReceipt): void {
    if (r.seq !== this.#next) {
      // The chain check reports the gap; the audit cannot count across it.
      this.#mismatch(r.seq, "USAGE_UNCOUNTABLE", `seq ${r.seq}: receipts out of order, usage from here on is not audited`);
      this.#next = Number.POSITIVE_INFINITY;
      return;
    }
    this.#next++;
    this.#hashes.push(r.hash);
    this.#times.push(r.timestamp);
    for (const op of COUNTED) {
      const p = this.#prefix[op];
      p.push(p[p.length - 1]! + (r.operation === op ? 1 : 0));
    }
    const receipt = r.receipt;
    if (receipt?.operation === "entitlement_active" && receipt.usage_reporting_id !== undefined) {
      const b = this.#billing;
      if (b === null || b.entitlementId !== receipt.entitlement_id || b.usageReportingId !== receipt.usage_reporting_id) {
        this.#billing = { entitlementId: receipt.entitlement_id, usageReportingId: receipt.usage_reporting_id, nextTime: receipt.timestamp, nextSeq: receipt.seq };
        this.#prune(receipt.seq - 1);
      }
    } else if (receipt?.operation === "usage_reported") {
      this.#check(receipt);
    } else if (this.#billing === null) {
      // Before billing starts no report can name a receipt: keep none.
      this.#prune(r.seq);
    }
  }

  report(): UsageAuditReport {
    return { ledger: this.#ledger, reports: this.#reports, billed: { ...this.#billed }, mismatches: [...this.#mismatches] };
  }

  #mismatch(seq: number, code: string, message: string): void {
    if (this.#mismatches.length < MAX_MISMATCHES) this.#mismatches.push({ seq, code, message });
  }

  #kept(seq: number): boolean {
    return seq >= this.#base && seq < this.#next;
  }

  #count(op: (typeof COUNTED)[number], fromSeq: number, toSeq: number): number {
    const p = this.#prefix[op];
    return p[toSeq + 1 - this.#base]! - p[fromSeq - this.#base]!;
  }

  #check(r: ReceiptOf<"usage_reported">): void {
    const where = `seq ${r.seq}: usage_reported`;
    const b = this.#billing;
    if (b === null) return this.#mismatch(r.seq, "USAGE_NOT_BILLED", `${where} but no entitlement_active with a usage_reporting_id precedes it`);
    if (r.entitlement_id !== b.entitlementId || r.usage_reporting_id !== b.usageReportingId) {
      this.#mismatch(r.seq, "USAGE_CONSUMER", `${where} names entitlement "${r.entitlement_id}" and consumer "${r.usage_reporting_id}", not the billed "${b.entitlementId}" and "${b.usageReportingId}"`);
    }
    if (r.start_time !== b.nextTime || r.from_seq !== b.nextSeq) {
      this.#mismatch(r.seq, "USAGE_WINDOW_GAP", `${where} starts at ${r.start_time} (seq ${r.from_seq}), but the previous window ended at ${b.nextTime} (next seq ${b.nextSeq})`);
    }
    const span = Date.parse(r.end_time) - Date.parse(r.start_time);
    if (!(span > 0 && span <= USAGE_WINDOW_MAX_MS)) this.#mismatch(r.seq, "USAGE_WINDOW_LENGTH", `${where} window ${r.start_time} … ${r.end_time} is not between 0 and 1 hour long`);
    const anchorSeq = r.to_seq >= r.from_seq ? r.to_seq : r.from_seq - 1;
    if (r.to_seq < r.from_seq - 1 || r.to_seq >= r.seq || r.from_seq < this.#base || !this.#kept(anchorSeq)) {
      this.#mismatch(r.seq, "USAGE_RANGE", `${where} counts seq ${r.from_seq} … ${r.to_seq}, which is not a range of receipts before it in the current window`);
    } else {
      if (r.to_seq >= r.from_seq && this.#times[r.to_seq - this.#base]! >= r.end_time) {
        this.#mismatch(r.seq, "USAGE_RANGE_TIME", `${where} counts seq ${r.to_seq}, whose timestamp is not before the window's end ${r.end_time}`);
      }
      for (const m of r.metrics) {
        const counted = this.#count(m.counts, r.from_seq, r.to_seq);
        if (counted !== m.quantity) this.#mismatch(r.seq, "USAGE_QUANTITY", `${where} bills ${m.quantity} of "${m.metric}", but seq ${r.from_seq} … ${r.to_seq} hold ${counted} ${m.counts} receipts`);
      }
      const expected = usageOperationId({
        entitlementId: r.entitlement_id,
        fromSeq: r.from_seq,
        toSeq: r.to_seq,
        startTime: r.start_time,
        endTime: r.end_time,
        anchorHash: this.#hashes[anchorSeq - this.#base]!,
      });
      if (expected !== r.operation_id) this.#mismatch(r.seq, "USAGE_OPERATION_ID", `${where} operation id ${r.operation_id} is not the one its window gives, ${expected}`);
    }
    if (r.status === "success" || r.status === "failure") {
      if (r.status === "success") {
        this.#reports++;
        for (const m of r.metrics) this.#billed[m.metric] = (this.#billed[m.metric] ?? 0) + m.quantity;
      }
      // A closed window moves the chain on even when it is wrong, so one mismatch is reported once.
      b.nextTime = r.end_time;
      b.nextSeq = r.to_seq + 1;
      this.#prune(r.to_seq);
    }
  }

  /** Forgets receipts before `keepFrom` (the anchor of the next window is kept). */
  #prune(keepFrom: number): void {
    // Forgetting in batches keeps the cost per receipt constant.
    const drop = Math.min(keepFrom, this.#next) - this.#base;
    if (drop <= 4096) return;
    this.#hashes.splice(0, drop);
    this.#times.splice(0, drop);
    for (const op of COUNTED) this.#prefix[op].splice(0, drop);
    this.#base += drop;
  }
}

const OPERATION = '"operation":"';

/**
 * What the audit needs of one line of `receipts.jsonl`, without parsing most
 * of them: receipts are stored as JCS text, where the top-level `operation`
 * member comes before any member that may nest another `operation` (only
 * `params`, which sorts after it). The two operations the audit reads whole
 * are parsed and checked against their schema.
 */
export function usageLineInfo(text: string): { operation: string | null; receipt?: Receipt } {
  const at = text.indexOf(OPERATION);
  if (at < 0) return { operation: null };
  const end = text.indexOf('"', at + OPERATION.length);
  const operation = end < 0 ? null : text.slice(at + OPERATION.length, end);
  if (operation !== "usage_reported" && operation !== "entitlement_active") return { operation };
  try {
    const parsed = receiptSchemas[operation].safeParse(JSON.parse(text));
    return parsed.success ? { operation, receipt: parsed.data as Receipt } : { operation };
  } catch {
    return { operation };
  }
}

/** Audits the usage reports of receipts (of one ledger or several, each in seq order): one report per ledger. */
export function auditUsage(receipts: Iterable<Receipt>): UsageAuditReport[] {
  const audits = new Map<string, UsageAudit>();
  for (const r of receipts) {
    let a = audits.get(r.ledger);
    if (a === undefined) {
      a = new UsageAudit();
      a.ledger(r.ledger);
      audits.set(r.ledger, a);
    }
    const whole = r.operation === "usage_reported" || r.operation === "entitlement_active";
    a.add({ seq: r.seq, timestamp: r.timestamp, hash: r.hash, operation: r.operation, ...(whole ? { receipt: r } : {}) });
  }
  return [...audits.values()].map((a) => a.report());
}
