/**
 * The usage reporter (src/app/usage-reporter.ts) on the manual clock, with the
 * real Service Control adapter against the HTTP double and a ledger kept in
 * the test (sealed receipts; the billing state folded with `evolveBilling`).
 */
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { evolveBilling, initialBilling, type BillingState } from "../../governors/billing.ts";
import { createUsageMeter } from "../../src/adapters/gcp/service-control.ts";
import { UsageReporter, type BilledTenant } from "../../src/app/usage-reporter.ts";
import { genesisHash, sealReceipt, uuidV7 } from "../../src/ledger/hash.ts";
import { receiptSchemas, type DraftOf, type Receipt, type ReceiptDraft, type ReceiptOf } from "../../src/ledger/receipt.ts";
import { auditUsage } from "../../src/ledger/usage-audit.ts";
import type { UsageMeter } from "../../src/ports/index.ts";
import { provisionDraft } from "../support/governor-spec.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { startServiceControlDouble, type ServiceControlDouble } from "../support/servicecontrol-double.ts";

const SERVICE = "governor.example.com";
const ACCOUNT = "acme";
const CONSUMER = "project_number:4242";
const METRIC = `${SERVICE}/actions`;
const T0 = Date.parse("2026-11-01T09:00:00.000Z");
const HOUR = 3_600_000;

/** A tenant's ledger and what the governor folds from it. */
class Ledger {
  readonly receipts: Receipt[] = [];
  billing: BillingState = initialBilling;
  phase = "active";
  suspended: string[] = [];
  readonly clock: ManualClock;
  constructor(clock: ManualClock) {
    this.clock = clock;
  }

  append(draft: ReceiptDraft): Receipt {
    const prev = this.receipts.at(-1);
    const r = sealReceipt(draft, {
      ledger: ACCOUNT,
      accountId: ACCOUNT,
      seq: this.receipts.length,
      prevHash: prev?.hash ?? genesisHash(ACCOUNT),
      timestamp: new Date(this.clock.now()).toISOString(),
      receiptId: uuidV7(this.clock.now()),
    });
    receiptSchemas[r.operation].parse(r);
    this.receipts.push(r);
    this.billing = evolveBilling(this.billing, r);
    return r;
  }

  action(n: number, op: "action_started" | "action_complete" = "action_complete"): void {
    for (let i = 0; i < n; i++) {
      const common = { status: "success" as const, duration_ms: 1, signal_id: `s-${this.receipts.length}`, action_id: uuidV7(this.clock.now()), action: "run" };
      this.append(
        op === "action_complete"
          ? { operation: "action_complete", ...common }
          : { operation: "action_started", ...common, handler: "run", params: {}, deadline: new Date(this.clock.now() + 500).toISOString(), timeout_ms: 500 },
      );
    }
  }

  usage(): ReceiptOf<"usage_reported">[] {
    return this.receipts.filter((r): r is ReceiptOf<"usage_reported"> => r.operation === "usage_reported");
  }
}

interface Rig {
  clock: ManualClock;
  ledger: Ledger;
  reporter: UsageReporter;
  alerts: string[];
  degraded: { value: boolean };
  reporterOver(meter?: UsageMeter): UsageReporter;
}

function rig(double: ServiceControlDouble, ledger?: Ledger): Rig {
  const clock = ledger?.clock ?? new ManualClock(T0);
  const l = ledger ?? new Ledger(clock);
  const alerts: string[] = [];
  const degraded = { value: false };
  const meter = createUsageMeter({ serviceName: SERVICE, rootUrl: double.url, auth: "none", timeoutMs: 5_000 });
  const reporterOver = (m: UsageMeter = meter) =>
    new UsageReporter({
      meter: m,
      serviceName: SERVICE,
      clock,
      logger: pino({ level: "silent" }),
      alerts: { alert: (a) => void alerts.push(a.code) },
      degraded: () => degraded.value,
      tenants: (): BilledTenant[] => [{ account: ACCOUNT, billing: l.billing, skuId: "demo", plan: "starter", policyVersion: "1.0.0", phase: l.phase }],
      metering: () => [{ metric: "actions", counts: "action_complete" }],
      read: (_account, fromSeq, count) => Promise.resolve(l.receipts.slice(fromSeq, fromSeq + count)),
      record: (_account, draft) => Promise.resolve(l.append(draft)),
      suspend: (_account, reason) => {
        l.suspended.push(reason);
        l.phase = "suspended";
        return Promise.resolve();
      },
    });
  return { clock, ledger: l, reporter: reporterOver(), alerts, degraded, reporterOver };
}

function activate(l: Ledger): void {
  l.append({ ...(provisionDraft({ plan: "starter", concurrency: 1 }) as DraftOf<"entitlement_active">), usage_reporting_id: CONSUMER });
}

/** The windows written with status success, in order. */
const successes = (l: Ledger) => l.usage().filter((r) => r.status === "success");

describe("UsageReporter", () => {
  let double: ServiceControlDouble;
  beforeEach(async () => {
    double = await startServiceControlDouble();
  });
  afterEach(async () => {
    await double.close();
  });

  it("reports hourly windows, contiguous in time and seq, with the receipts they count, and the audit agrees", async () => {
    const { clock, ledger, reporter } = rig(double);
    activate(ledger);
    clock.advance(10 * 60_000);
    ledger.action(3);
    ledger.action(2, "action_started");
    expect(await reporter.tick()).toMatchObject({ reported: 0 });
    clock.advance(HOUR);
    ledger.action(4);
    expect(await reporter.tick()).toMatchObject({ reported: 1, failed: 0 });
    clock.advance(HOUR);
    expect(await reporter.tick()).toMatchObject({ reported: 1 });

    const [w1, w2] = successes(ledger);
    expect(w1).toMatchObject({ start_time: "2026-11-01T09:00:00.000Z", end_time: "2026-11-01T10:00:00.000Z", from_seq: 0, to_seq: 5 });
    expect(w1!.metrics).toEqual([{ metric: METRIC, counts: "action_complete", quantity: 3 }]);
    expect(w2).toMatchObject({ start_time: "2026-11-01T10:00:00.000Z", end_time: "2026-11-01T11:00:00.000Z", from_seq: 6 });
    // The second window counts the four actions and the pending/success receipts of the first, none of them billed twice.
    expect(w2!.metrics[0]!.quantity).toBe(4);
    expect(double.billed(CONSUMER, METRIC)).toBe(7);
    expect(double.checks.map((c) => c.operations[0]!.operationId)).toEqual([w1!.operation_id, w2!.operation_id]);
    // Each window was pending before it was sent.
    expect(ledger.usage().map((r) => r.status)).toEqual(["pending", "success", "pending", "success"]);
    const [audit] = auditUsage(ledger.receipts);
    expect(audit).toEqual({ ledger: ACCOUNT, reports: 2, billed: { [METRIC]: 7 }, mismatches: [] });
  });

  it("catches up window by window after three hours, reporting empty windows too", async () => {
    const { clock, ledger, reporter } = rig(double);
    activate(ledger);
    ledger.action(2);
    clock.advance(3 * HOUR + 5 * 60_000);
    ledger.action(1);
    expect(await reporter.tick()).toMatchObject({ reported: 3 });
    const windows = successes(ledger);
    expect(windows.map((w) => [w.start_time, w.end_time])).toEqual([
      ["2026-11-01T09:00:00.000Z", "2026-11-01T10:00:00.000Z"],
      ["2026-11-01T10:00:00.000Z", "2026-11-01T11:00:00.000Z"],
      ["2026-11-01T11:00:00.000Z", "2026-11-01T12:00:00.000Z"],
    ]);
    for (const w of windows) expect(Date.parse(w.end_time) - Date.parse(w.start_time)).toBeLessThanOrEqual(HOUR);
    for (let i = 1; i < windows.length; i++) expect(windows[i]!.from_seq).toBe(windows[i - 1]!.to_seq + 1);
    expect(windows.map((w) => w.metrics[0]!.quantity)).toEqual([2, 0, 0]);
    expect(new Set(windows.map((w) => w.operation_id)).size).toBe(3);
    expect(double.billed(CONSUMER, METRIC)).toBe(2);
    expect(auditUsage(ledger.receipts)[0]!.mismatches).toEqual([]);
  });

  it("a failed report stays pending and is sent again with the same operation id, billed once", async () => {
    const { clock, ledger, reporter, alerts } = rig(double);
    activate(ledger);
    ledger.action(5);
    clock.advance(HOUR);
    // The check fails: nothing is written, the window waits.
    double.failNext(1, 503, "check");
    expect(await reporter.tick()).toMatchObject({ reported: 0, failed: 1 });
    expect(ledger.usage()).toHaveLength(0);
    // The report fails: the window stays pending.
    double.failNext(1, 503, "report");
    expect(await reporter.tick()).toMatchObject({ reported: 0, failed: 1 });
    expect(ledger.usage().map((r) => r.status)).toEqual(["pending"]);
    expect(alerts).toEqual(["USAGE_REPORT_FAILED", "USAGE_REPORT_FAILED"]);
    const pending = ledger.usage()[0]!;
    expect(await reporter.tick()).toMatchObject({ reported: 1, failed: 0 });
    const [success] = successes(ledger);
    expect(success!.operation_id).toBe(pending.operation_id);
    expect({ ...success, status: "x", seq: 0, hash: "", prev_hash: "", receipt_id: "", timestamp: "", duration_ms: 0 }).toEqual({
      ...pending,
      status: "x",
      seq: 0,
      hash: "",
      prev_hash: "",
      receipt_id: "",
      timestamp: "",
      duration_ms: 0,
    });
    expect(ledger.usage().map((r) => r.status)).toEqual(["pending", "success"]);
    expect(double.reports.map((r) => r.operations[0]!.operationId)).toEqual([pending.operation_id]);
    expect(double.billed(CONSUMER, METRIC)).toBe(5);
  });

  it("a restart over a ledger with a pending window sends it again, same operation id, billed once", async () => {
    const first = rig(double);
    activate(first.ledger);
    first.ledger.action(4);
    first.clock.advance(HOUR);
    // Service Control accepts the report, but the process stops before the success receipt is durable.
    let crashed = false;
    const crashing: UsageMeter = {
      check: (op) => createUsageMeter({ serviceName: SERVICE, rootUrl: double.url, auth: "none" }).check(op),
      report: async (op) => {
        await createUsageMeter({ serviceName: SERVICE, rootUrl: double.url, auth: "none" }).report(op);
        crashed = true;
        throw new Error("process stopped");
      },
    };
    await first.reporterOver(crashing).tick();
    expect(crashed).toBe(true);
    expect(first.ledger.usage().map((r) => r.status)).toEqual(["pending"]);
    expect(double.billed(CONSUMER, METRIC)).toBe(4);

    // A new process: a new reporter over the same ledger (its billing state folded from the receipts).
    const rebuilt = new Ledger(first.clock);
    for (const r of first.ledger.receipts) rebuilt.billing = evolveBilling(rebuilt.billing, r);
    rebuilt.receipts.push(...first.ledger.receipts);
    expect(rebuilt.billing.pending).not.toBeNull();
    const second = rig(double, rebuilt);
    expect(await second.reporter.tick()).toMatchObject({ reported: 1 });
    const ids = double.reports.map((r) => r.operations[0]!.operationId);
    expect(ids).toHaveLength(2);
    expect(ids[1]).toBe(ids[0]);
    expect(successes(rebuilt)[0]!.operation_id).toBe(ids[0]);
    // Sent again as it was: no second check, no second pending.
    expect(double.checks).toHaveLength(1);
    expect(rebuilt.usage().map((r) => r.status)).toEqual(["pending", "success"]);
    expect(double.billed(CONSUMER, METRIC)).toBe(4);
    expect(auditUsage(rebuilt.receipts)[0]).toMatchObject({ reports: 1, billed: { [METRIC]: 4 }, mismatches: [] });
  });

  it("a check that refuses the consumer writes a failure receipt and suspends the governor; nothing is reported", async () => {
    const { clock, ledger, reporter, alerts } = rig(double);
    activate(ledger);
    ledger.action(2);
    clock.advance(HOUR);
    double.refuse(CONSUMER, "BILLING_DISABLED");
    expect(await reporter.tick()).toMatchObject({ reported: 0, refused: 1 });
    const [failure] = ledger.usage();
    expect(failure).toMatchObject({ status: "failure", check_errors: ["BILLING_DISABLED"], from_seq: 0, to_seq: 2 });
    expect(ledger.suspended).toHaveLength(1);
    expect(ledger.suspended[0]).toContain("BILLING_DISABLED");
    expect(alerts).toContain("USAGE_CONSUMER_REFUSED");
    expect(double.reports).toHaveLength(0);
    // Suspended: no more windows while it is.
    clock.advance(HOUR);
    expect(await reporter.tick()).toMatchObject({ reported: 0, refused: 0 });
    expect(double.checks).toHaveLength(1);
  });

  it("in safe mode nothing is sent or written; the windows are caught up after", async () => {
    const { clock, ledger, reporter, degraded } = rig(double);
    activate(ledger);
    ledger.action(1);
    clock.advance(2 * HOUR);
    degraded.value = true;
    expect(await reporter.tick()).toEqual({ skipped: true, reported: 0, refused: 0, failed: 0 });
    expect(await reporter.flush(ACCOUNT)).toMatchObject({ skipped: true });
    expect(ledger.usage()).toHaveLength(0);
    expect(double.checks).toHaveLength(0);
    degraded.value = false;
    expect(await reporter.tick()).toMatchObject({ reported: 2 });
    expect(double.billed(CONSUMER, METRIC)).toBe(1);
  });

  it("flush reports up to now, the last window shorter than an hour", async () => {
    const { clock, ledger, reporter } = rig(double);
    activate(ledger);
    clock.advance(HOUR + 20 * 60_000);
    ledger.action(2);
    clock.advance(1);
    expect(await reporter.flush(ACCOUNT)).toMatchObject({ reported: 2 });
    const windows = successes(ledger);
    expect(windows.at(-1)).toMatchObject({ start_time: "2026-11-01T10:00:00.000Z", end_time: "2026-11-01T10:20:00.001Z" });
    expect(windows.at(-1)!.metrics[0]!.quantity).toBe(2);
    expect(auditUsage(ledger.receipts)[0]!.mismatches).toEqual([]);
  });

  it("start runs passes on the clock's timer, and a pass asked for during one is that pass", async () => {
    const { clock, ledger, reporter } = rig(double);
    activate(ledger);
    ledger.action(1);
    clock.advance(HOUR);
    const a = reporter.tick();
    const b = reporter.tick();
    expect(b).toBe(a);
    await a;
    expect(double.checks).toHaveLength(1);
    clock.advance(HOUR);
    reporter.start(60_000);
    clock.advance(60_000);
    await expect.poll(() => successes(ledger).length).toBe(2);
    reporter.stop();
    expect(clock.pending).toBe(0);
  });
});
