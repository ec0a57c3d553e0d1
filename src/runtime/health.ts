/**
 * Workflow 4, safe mode: a health loop probes the ledger store (a write and
 * a read) every interval, each probe under its own hard deadline, so a hung
 * store counts as a failure in seconds. After `failureThreshold` failures in
 * a row Governor enters safe mode: intake is refused explicitly, nothing new
 * is executed, receipts go to the local spool, `degraded_mode` is written and
 * an alert raised. The first successful probe drains the spool into the
 * ledger, writes `degraded_mode_cleared` and resumes intake.
 */
import type { Logger } from "pino";
import type { Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import { StoreUnavailableError, type AlertSink, type Clock, type LedgerStore } from "../ports.ts";
import type { LedgerWriter } from "./ledger-writer.ts";

export interface HealthMonitorOptions {
  readonly store: LedgerStore;
  readonly writer: LedgerWriter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly alerts: AlertSink;
  readonly intervalMs: number;
  readonly probeDeadlineMs: number;
  readonly failureThreshold: number;
  /** Seals a receipt on the platform ledger (durable later: in the store, or the spool in safe mode). */
  readonly sealPlatform: (draft: ReceiptDraft) => Receipt;
  /** Intake resumed: start what waited in the governors' queues. */
  readonly onCleared?: () => void;
}

/** What operators see of the store's health. */
export interface HealthState {
  readonly degraded: boolean;
  readonly store: "ok" | "failing" | "down";
  readonly consecutiveFailures: number;
  readonly lastProbeAt: string | null;
  readonly lastProbeMs: number | null;
  readonly lastError: string | null;
  readonly degradedSince: string | null;
  readonly actionsRefused: number;
  readonly spooledReceipts: number;
}

export class HealthMonitor {
  readonly #o: HealthMonitorOptions;
  #timer: { cancel(): void } | null = null;
  #failures = 0;
  #degradedAt: number | null = null;
  #refused = 0;
  #spooledAtEntry = 0;
  #lastProbeAt: number | null = null;
  #lastProbeMs: number | null = null;
  #lastError: string | null = null;
  #probing = false;
  #stopped = false;

  constructor(options: HealthMonitorOptions) {
    this.#o = options;
  }

  get degraded(): boolean {
    return this.#degradedAt !== null;
  }

  /** Counts an action refused because of safe mode (reported in `degraded_mode_cleared`). */
  countRefusal(): void {
    this.#refused++;
  }

  state(): HealthState {
    return {
      degraded: this.degraded,
      store: this.degraded ? "down" : this.#failures > 0 ? "failing" : "ok",
      consecutiveFailures: this.#failures,
      lastProbeAt: this.#lastProbeAt === null ? null : new Date(this.#lastProbeAt).toISOString(),
      lastProbeMs: this.#lastProbeMs,
      lastError: this.#lastError,
      degradedSince: this.#degradedAt === null ? null : new Date(this.#degradedAt).toISOString(),
      actionsRefused: this.#refused,
      spooledReceipts: this.degraded ? this.#spooledAtEntry : 0,
    };
  }

  start(): void {
    if (this.#timer !== null || this.#stopped) return;
    // A fixed cadence: a probe starts every interval whatever the last one took
    // (its deadline bounds it), so detection takes at most N intervals + a deadline.
    const tick = () => {
      if (this.#stopped) return;
      this.#timer = this.#o.clock.setTimeout(tick, this.#o.intervalMs);
      void this.probeOnce();
    };
    this.#timer = this.#o.clock.setTimeout(tick, this.#o.intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  /** One probe and what follows from it. Exposed for tests and for a probe on demand. */
  async probeOnce(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    const started = this.#o.clock.now();
    try {
      await this.#probe();
      this.#lastProbeMs = this.#o.clock.now() - started;
      this.#lastError = null;
      this.#failures = 0;
      if (this.degraded) await this.#recover();
    } catch (err) {
      this.#lastProbeMs = this.#o.clock.now() - started;
      this.#lastError = err instanceof Error ? err.message : String(err);
      this.#failures++;
      this.#o.logger.warn({ consecutive_failures: this.#failures, err: this.#lastError }, "ledger store health probe failed");
      if (!this.degraded && this.#failures >= this.#o.failureThreshold) this.#enter();
    } finally {
      this.#lastProbeAt = started;
      this.#probing = false;
    }
  }

  /** The store's probe under a deadline of our own too: a client library may wait far longer than asked. */
  #probe(): Promise<void> {
    const deadline = this.#o.probeDeadlineMs;
    return new Promise<void>((resolve, reject) => {
      const timer = this.#o.clock.setTimeout(
        () => reject(new StoreUnavailableError(`health probe did not answer within ${deadline} ms`, { timeout: true })),
        deadline + 50,
      );
      this.#o.store.probe(deadline).then(
        () => {
          timer.cancel();
          resolve();
        },
        (err: unknown) => {
          timer.cancel();
          reject(err as Error);
        },
      );
    });
  }

  #enter(): void {
    const now = this.#o.clock.now();
    this.#degradedAt = now;
    this.#refused = 0;
    this.#o.writer.enterSpoolMode();
    const reason = `${this.#failures} health probes in a row failed; last: ${this.#lastError ?? "unknown"}`.slice(0, 1024);
    this.#o.sealPlatform({ operation: "degraded_mode", status: "failure", duration_ms: 0, scope: "store", consecutive_failures: this.#failures, reason });
    this.#o.logger.error({ code: "SAFE_MODE", consecutive_failures: this.#failures }, "safe mode: the ledger store is failing; intake refused, receipts spooled to local disk");
    this.#o.alerts.alert({ code: "safe_mode", message: `Governor entered safe mode: ${reason}`, details: { consecutive_failures: this.#failures } });
  }

  async #recover(): Promise<void> {
    const since = this.#degradedAt!;
    let spooled: number;
    try {
      spooled = await this.#o.writer.leaveSpoolMode();
    } catch (err) {
      this.#lastError = `spool drain failed: ${err instanceof Error ? err.message : String(err)}`;
      this.#o.logger.error({ err }, "the store answered a probe but the spool could not be drained; staying in safe mode");
      return;
    }
    const now = this.#o.clock.now();
    const receipt = this.#o.sealPlatform({
      operation: "degraded_mode_cleared",
      status: "success",
      duration_ms: Math.max(0, now - since),
      scope: "store",
      downtime_seconds: Math.max(0, Math.round((now - since) / 1000)),
      actions_refused: this.#refused,
      spooled_receipts: spooled,
    });
    this.#degradedAt = null;
    this.#o.logger.info({ downtime_seconds: Math.round((now - since) / 1000), actions_refused: this.#refused, spooled_receipts: spooled, seq: receipt.seq }, "safe mode cleared: spool drained, intake resumed");
    this.#o.alerts.alert({ code: "safe_mode_cleared", message: "Governor left safe mode: the ledger store answers again", details: { spooled_receipts: spooled } });
    this.#o.onCleared?.();
  }
}
