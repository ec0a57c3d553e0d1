/**
 * The usage audit (src/ledger/usage-audit.ts): every `usage_reported` receipt
 * recomputed from the ledger alone, and `governor verify` failing on a
 * mismatch. Tampered ledgers are sealed again (`resealed`), so the chain is
 * intact and only the audit can catch what was changed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { genesisHash, sealReceipt, uuidV7 } from "../../src/ledger/hash.ts";
import { receiptSchemas, type DraftOf, type Receipt, type ReceiptDraft } from "../../src/ledger/receipt.ts";
import { auditUsage, usageOperationId } from "../../src/ledger/usage-audit.ts";
import { verifyArchive } from "../../src/ledger/verify.ts";
import { LEDGER, members, pack, resealed, TRUSTED } from "../fixtures/generate-archives.ts";
import { provisionDraft } from "../support/governor-spec.ts";

const T0 = Date.parse("2026-11-01T09:00:00.000Z");
const HOUR = 3_600_000;
const METRIC = "governor.example.com/actions";
const CONSUMER = "project_number:4242";

/** A ledger with billing from seq 0 and hourly windows (`perWindow` actions each) reported as the reporter reports them. */
function billedLedger(perWindow: readonly number[] = [3, 2]): Receipt[] {
  const receipts: Receipt[] = [];
  let now = T0;
  const append = (draft: ReceiptDraft) => {
    const r = sealReceipt(draft, {
      ledger: LEDGER,
      accountId: LEDGER,
      seq: receipts.length,
      prevHash: receipts.at(-1)?.hash ?? genesisHash(LEDGER),
      timestamp: new Date(now).toISOString(),
      receiptId: uuidV7(now),
    });
    receiptSchemas[r.operation].parse(r);
    receipts.push(r);
  };
  const actions = (n: number) => {
    for (let i = 0; i < n; i++) {
      append({ operation: "action_complete", status: "success", duration_ms: 1, signal_id: `s-${receipts.length}`, action_id: uuidV7(now), action: "run" });
    }
  };
  const window = (start: number, end: number, fromSeq: number) => {
    const counted = receipts.filter((r) => r.seq >= fromSeq && Date.parse(r.timestamp) < end);
    const toSeq = counted.at(-1)?.seq ?? fromSeq - 1;
    const anchor = receipts[toSeq >= fromSeq ? toSeq : fromSeq - 1]!.hash;
    const fields = {
      entitlement_id: "ent-1",
      usage_reporting_id: CONSUMER,
      start_time: new Date(start).toISOString(),
      end_time: new Date(end).toISOString(),
      from_seq: fromSeq,
      to_seq: toSeq,
      metrics: [{ metric: METRIC, counts: "action_complete" as const, quantity: counted.filter((r) => r.operation === "action_complete").length }],
    };
    const operation_id = usageOperationId({ entitlementId: "ent-1", fromSeq, toSeq, startTime: fields.start_time, endTime: fields.end_time, anchorHash: anchor });
    append({ operation: "usage_reported", status: "pending", duration_ms: 0, operation_id, ...fields });
    append({ operation: "usage_reported", status: "success", duration_ms: 2, operation_id, ...fields });
    return toSeq;
  };
  append({ ...(provisionDraft({ plan: "starter", concurrency: 1 }) as DraftOf<"entitlement_active">), usage_reporting_id: CONSUMER });
  let fromSeq = 0;
  for (const [i, n] of perWindow.entries()) {
    for (let k = 0; k < n; k++) {
      now += Math.floor(HOUR / (n + 2));
      actions(1);
    }
    now = T0 + (i + 1) * HOUR + 5_000;
    fromSeq = window(T0 + i * HOUR, T0 + (i + 1) * HOUR, fromSeq) + 1;
  }
  return receipts;
}

const seqOf = (receipts: readonly Receipt[], status: string, nth: number) => receipts.filter((r) => r.operation === "usage_reported" && r.status === status)[nth]!.seq;

describe("auditUsage", () => {
  it("recomputes every window of an honest ledger: no mismatch, the totals billed", () => {
    expect(auditUsage(billedLedger())).toEqual([{ ledger: LEDGER, reports: 2, billed: { [METRIC]: 5 }, mismatches: [] }]);
  });

  it("keeps counting right across long windows (receipts it no longer needs are forgotten)", () => {
    const ledger = billedLedger([5000, 0, 4200, 7]);
    expect(auditUsage(ledger)).toEqual([{ ledger: LEDGER, reports: 4, billed: { [METRIC]: 9207 }, mismatches: [] }]);
    const last = seqOf(ledger, "success", 3);
    const billed = (ledger[last] as { metrics: { quantity: number }[] }).metrics[0]!.quantity;
    const [report] = auditUsage(resealed(ledger, last, (r) => void (r["metrics"] = [{ metric: METRIC, counts: "action_complete", quantity: billed + 1 }])));
    expect(report!.mismatches.map((m) => m.code)).toEqual(["USAGE_QUANTITY"]);
  });

  it("catches a tampered quantity", () => {
    const ledger = billedLedger();
    const at = seqOf(ledger, "success", 1);
    const tampered = resealed(ledger, at, (r) => {
      r["metrics"] = [{ metric: METRIC, counts: "action_complete", quantity: 1 }];
    });
    const [report] = auditUsage(tampered);
    expect(report!.mismatches).toEqual([
      { seq: at, code: "USAGE_QUANTITY", message: `seq ${at}: usage_reported bills 1 of "${METRIC}", but seq 4 … 7 hold 2 action_complete receipts` },
    ]);
    expect(report!.billed).toEqual({ [METRIC]: 4 });
  });

  it("catches a window that does not start where the last ended", () => {
    const ledger = billedLedger();
    const at = seqOf(ledger, "success", 1);
    const [report] = auditUsage(resealed(ledger, at, (r) => void (r["start_time"] = "2026-11-01T10:00:01.000Z")));
    expect(report!.mismatches.map((m) => m.code)).toEqual(["USAGE_WINDOW_GAP", "USAGE_OPERATION_ID"]);
  });

  it("catches an operation id the window does not give, and a window over an hour", () => {
    const ledger = billedLedger();
    const first = seqOf(ledger, "success", 0);
    const [a] = auditUsage(resealed(ledger, first, (r) => void (r["operation_id"] = "00000000-0000-8000-8000-000000000000")));
    // Sealing the ledger again changes every later hash, so later windows' ids no longer match either.
    expect(a!.mismatches.map((m) => [m.seq, m.code])).toEqual([
      [first, "USAGE_OPERATION_ID"],
      [first + 3, "USAGE_OPERATION_ID"],
      [first + 4, "USAGE_OPERATION_ID"],
    ]);
    const [b] = auditUsage(resealed(ledger, first, (r) => void (r["end_time"] = "2026-11-01T10:00:00.001Z")));
    expect(b!.mismatches.map((m) => m.code)).toContain("USAGE_WINDOW_LENGTH");
  });

  it("a report without billing started is a mismatch", () => {
    const ledger = billedLedger();
    const [report] = auditUsage(resealed(ledger, 0, (r) => void delete r["usage_reporting_id"]));
    expect(report!.mismatches.map((m) => m.code)).toContain("USAGE_NOT_BILLED");
  });

  it("operation ids are UUID-shaped (RFC 9562 version 8) and deterministic", () => {
    const key = { entitlementId: "e", fromSeq: 1, toSeq: 0, startTime: "2026-11-01T09:00:00.000Z", endTime: "2026-11-01T10:00:00.000Z", anchorHash: "a".repeat(64) };
    expect(usageOperationId(key)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(usageOperationId(key)).toBe(usageOperationId({ ...key }));
    expect(usageOperationId(key)).not.toBe(usageOperationId({ ...key, toSeq: 1 }));
  });
});

describe("governor verify: the usage audit", () => {
  const dir = mkdtempSync(join(tmpdir(), "governor-usage-audit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const workers of [0, 2]) {
    it(`an honest archive is valid and reports what was billed (${workers} workers)`, async () => {
      const path = join(dir, `honest-${workers}.tar.gz`);
      await pack(path, members(billedLedger()));
      const report = await verifyArchive(path, { trustedKeys: [TRUSTED], workers });
      expect(report.valid).toBe(true);
      expect(report.usage).toEqual({ reports: 2, billed: { [METRIC]: 5 }, mismatches: [] });
    });

    it(`a tampered quantity fails verification with a plain message (${workers} workers)`, async () => {
      const ledger = billedLedger();
      const at = seqOf(ledger, "success", 0);
      const path = join(dir, `tampered-${workers}.tar.gz`);
      await pack(path, members(resealed(ledger, at, (r) => void (r["metrics"] = [{ metric: METRIC, counts: "action_complete", quantity: 30 }]))));
      const report = await verifyArchive(path, { trustedKeys: [TRUSTED], workers });
      expect(report.valid).toBe(false);
      expect(report.errors[0]!.message).toBe(`seq ${at}: usage_reported bills 30 of "${METRIC}", but seq 0 … 3 hold 3 action_complete receipts`);
      expect(report.usage.mismatches.map((m) => m.code)).toEqual(["USAGE_QUANTITY", "USAGE_OPERATION_ID", "USAGE_OPERATION_ID"]);
    });
  }
});
