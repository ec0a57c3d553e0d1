/**
 * Usage billed from receipts: every billed tenant's usage is reported to
 * Service Control window by window, each window at most an hour and starting
 * where the last ended (SPEC.md, "Usage billed from receipts").
 *
 * A window is written `pending` (the outbox) before it is sent and `success`
 * once Service Control accepted it. A pending window is sent again as it is,
 * with the same operation id (Service Control deduplicates), after a failure
 * or a restart. A check that refuses the consumer writes `failure` and
 * suspends the governor. In safe mode nothing is sent or written: windows
 * wait and are caught up later, one by one.
 */
import type { Logger } from "pino";
import { billingStarted, evolveBilling, nextWindowStart, type BillingState, type UsageWindowFields } from "../../governors/billing.ts";
import type { MeteringView } from "../../governors/policy-view.ts";
import type { Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import { USAGE_WINDOW_MAX_MS, usageOperationId } from "../ledger/usage-audit.ts";
import { UsageMeterError, type AlertSink, type Clock, type UsageMeter, type UsageOperation } from "../ports/index.ts";

/** A billed tenant as the governors know it now. */
export interface BilledTenant {
  readonly account: string;
  readonly billing: BillingState;
  readonly skuId: string;
  readonly plan: string;
  readonly policyVersion: string;
  readonly phase: string;
}

export interface UsageReporterDeps {
  readonly meter: UsageMeter;
  readonly serviceName: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly alerts: AlertSink;
  degraded(): boolean;
  /** Billed tenants now: their billing state and plan. */
  tenants(): Iterable<BilledTenant>;
  metering(skuId: string, policyVersion: string, plan: string): readonly MeteringView[];
  /** Durable receipts of a ledger, from seq, at most count. */
  read(account: string, fromSeq: number, count: number): Promise<readonly Receipt[]>;
  /** Appends to the tenant's ledger; resolves with the receipt once durable. */
  record(account: string, draft: ReceiptDraft): Promise<Receipt>;
  suspend(account: string, reason: string): Promise<void>;
}

/** What one pass did. */
export interface TickResult {
  /** Safe mode: nothing was done. */
  readonly skipped: boolean;
  /** Windows accepted by Service Control (pending ones sent again included). */
  readonly reported: number;
  /** Consumers the check refused (their governors suspended). */
  readonly refused: number;
  /** Tenants whose pass stopped on an error (they are tried again next pass). */
  readonly failed: number;
}

/** Receipts read per page while a window is counted. */
const PAGE = 1000;
/** Windows one tenant closes in one pass: a long outage is caught up over a few passes. */
const MAX_WINDOWS_PER_PASS = 48;
/** Phases in which no usage accrues or may be reported. */
const NOT_BILLED = new Set(["new", "suspended", "decommissioned"]);

const iso = (ms: number) => new Date(ms).toISOString();

interface Outcome {
  reported: number;
  refused: number;
}

export class UsageReporter {
  readonly #d: UsageReporterDeps;
  /** The pass or flush running now: the next waits for it, so none overlap. */
  #running: Promise<unknown> = Promise.resolve();
  #tick: Promise<TickResult> | null = null;
  #timer: { cancel(): void } | null = null;
  #stopped = false;

  constructor(deps: UsageReporterDeps) {
    this.#d = deps;
  }

  /** One pass over every billed tenant. A pass asked for while one runs is that one. */
  tick(): Promise<TickResult> {
    if (this.#tick !== null) return this.#tick;
    const run = this.#running.then(() => this.#pass());
    this.#tick = run.finally(() => {
      this.#tick = null;
    });
    this.#running = this.#tick.catch(() => undefined);
    return this.#tick;
  }

  /**
   * Reports a tenant's usage up to now (the last window may be shorter than
   * an hour): before it is archived. A failure is logged and alerted, and
   * counted in `failed`; what was not sent stays pending in the ledger.
   */
  flush(account: string): Promise<TickResult> {
    const run = this.#running.then(async () => {
      if (this.#d.degraded()) return { skipped: true, reported: 0, refused: 0, failed: 0 };
      const tenant = Array.from(this.#d.tenants()).find((t) => t.account === account);
      if (tenant === undefined || !billingStarted(tenant.billing)) return { skipped: false, reported: 0, refused: 0, failed: 0 };
      try {
        const out = await this.#tenant(tenant, true);
        return { skipped: false, ...out, failed: 0 };
      } catch (err) {
        this.#failed(account, err);
        return { skipped: false, reported: 0, refused: 0, failed: 1 };
      }
    });
    this.#running = run.catch(() => undefined);
    return run;
  }

  /** Runs a pass every `intervalMs` on the clock. */
  start(intervalMs: number): void {
    if (this.#timer !== null || this.#stopped) return;
    const next = () => {
      this.#timer = this.#d.clock.setTimeout(() => {
        if (this.#stopped) return;
        void this.tick().finally(() => {
          if (!this.#stopped) next();
        });
      }, intervalMs);
    };
    next();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  async #pass(): Promise<TickResult> {
    if (this.#d.degraded()) return { skipped: true, reported: 0, refused: 0, failed: 0 };
    let reported = 0;
    let refused = 0;
    let failed = 0;
    // A snapshot: the governors may change while a report is awaited.
    const tenants = Array.from(this.#d.tenants());
    for (const t of tenants) {
      // A window already pending was checked and counted: it is sent whatever the phase is now.
      if (!billingStarted(t.billing) || (NOT_BILLED.has(t.phase) && t.billing.pending === null)) continue;
      if (this.#d.degraded()) break;
      try {
        const out = await this.#tenant(t, false);
        reported += out.reported;
        refused += out.refused;
      } catch (err) {
        failed++;
        this.#failed(t.account, err);
      }
    }
    return { skipped: false, reported, refused, failed };
  }

  #failed(account: string, err: unknown): void {
    const retryable = !(err instanceof UsageMeterError) || err.retryable;
    const message = err instanceof Error ? err.message : String(err);
    this.#d.logger.warn({ ledger: account, code: err instanceof UsageMeterError ? err.code : "USAGE_REPORT_FAILED", retryable, err: message }, "usage report failed; the window stays pending and is sent again");
    this.#d.alerts.alert({ code: "USAGE_REPORT_FAILED", message: `usage of ${account} not reported: ${message}`, ledger: account, details: { retryable } });
  }

  /** Sends a pending window, then closes every window that has ended (and, on flush, the one running). */
  async #tenant(t: BilledTenant, flush: boolean): Promise<Outcome> {
    let billing = t.billing;
    const out: Outcome = { reported: 0, refused: 0 };
    if (billing.pending !== null) {
      billing = await this.#send(t.account, billing, billing.pending);
      out.reported++;
    }
    if (NOT_BILLED.has(t.phase)) return out;
    const metering = this.#d.metering(t.skuId, t.policyVersion, t.plan);
    if (metering.length === 0) return out;
    for (let i = 0; i < MAX_WINDOWS_PER_PASS; i++) {
      if (this.#d.degraded()) break;
      const start = nextWindowStart(billing);
      if (start === null) break;
      const startMs = Date.parse(start.time);
      const now = this.#d.clock.now();
      const endMs = startMs + USAGE_WINDOW_MAX_MS <= now ? startMs + USAGE_WINDOW_MAX_MS : flush && now > startMs ? now : null;
      if (endMs === null) break;
      const window = await this.#count(t.account, billing, start, iso(endMs), metering);
      const check = await this.#d.meter.check(this.#operation(window));
      if (!check.ok) {
        const receipt = await this.#d.record(t.account, { operation: "usage_reported", status: "failure", duration_ms: 0, ...window, check_errors: [...check.codes] });
        billing = evolveBilling(billing, receipt);
        out.refused++;
        this.#d.logger.warn({ ledger: t.account, codes: check.codes, seq: receipt.seq }, "Service Control refused the consumer: the governor is suspended");
        this.#d.alerts.alert({ code: "USAGE_CONSUMER_REFUSED", message: `Service Control refused the consumer of ${t.account}: ${check.detail}`, ledger: t.account });
        await this.#d.suspend(t.account, `Service Control check refused the consumer: ${check.detail}`.slice(0, 1024));
        break;
      }
      const pending = await this.#d.record(t.account, { operation: "usage_reported", status: "pending", duration_ms: 0, ...window });
      billing = evolveBilling(billing, pending);
      billing = await this.#send(t.account, billing, window);
      out.reported++;
    }
    return out;
  }

  /** Reports a window and records its success; throws (the window stays pending) when it was not accepted. */
  async #send(account: string, billing: BillingState, w: UsageWindowFields): Promise<BillingState> {
    const started = this.#d.clock.now();
    await this.#d.meter.report(this.#operation(w));
    const receipt = await this.#d.record(account, { operation: "usage_reported", status: "success", duration_ms: Math.max(0, this.#d.clock.now() - started), ...w });
    this.#d.logger.info({ ledger: account, operation_id: w.operation_id, from_seq: w.from_seq, to_seq: w.to_seq, seq: receipt.seq }, "usage reported");
    return evolveBilling(billing, receipt);
  }

  #operation(w: UsageWindowFields): UsageOperation {
    return {
      operationId: w.operation_id,
      operationName: "governor.usage",
      consumerId: w.usage_reporting_id,
      startTime: w.start_time,
      endTime: w.end_time,
      metrics: w.metrics.map((m) => ({ metric: m.metric, quantity: m.quantity })),
      labels: { entitlement_id: w.entitlement_id },
    };
  }

  /** Counts the receipts of a window: from `fromSeq` while their timestamp is before the end. */
  async #count(account: string, billing: BillingState, start: { time: string; fromSeq: number }, endTime: string, metering: readonly MeteringView[]): Promise<UsageWindowFields> {
    const counts = new Map<string, number>();
    let toSeq = start.fromSeq - 1;
    let anchor: string | null = null;
    // The receipt before the window anchors its operation id when the window counts none.
    let at = Math.max(0, start.fromSeq - 1);
    for (;;) {
      const page = await this.#d.read(account, at, PAGE);
      let ended = page.length < PAGE;
      for (const r of page) {
        if (r.seq < start.fromSeq) {
          anchor = r.hash;
          continue;
        }
        if (r.timestamp >= endTime) {
          ended = true;
          break;
        }
        toSeq = r.seq;
        anchor = r.hash;
        counts.set(r.operation, (counts.get(r.operation) ?? 0) + 1);
      }
      if (ended || page.length === 0) break;
      at = page[page.length - 1]!.seq + 1;
    }
    if (anchor === null) throw new Error(`ledger ${account}: no receipt at seq ${start.fromSeq - 1} to anchor the usage window`);
    const key = { entitlementId: billing.entitlementId!, fromSeq: start.fromSeq, toSeq, startTime: start.time, endTime, anchorHash: anchor };
    return {
      entitlement_id: key.entitlementId,
      usage_reporting_id: billing.usageReportingId!,
      operation_id: usageOperationId(key),
      start_time: start.time,
      end_time: endTime,
      from_seq: start.fromSeq,
      to_seq: toSeq,
      metrics: metering.map((m) => ({ metric: `${this.#d.serviceName}/${m.metric}`, counts: m.counts, quantity: counts.get(m.counts) ?? 0 })),
    };
  }
}
