/**
 * The health tick of workflow 4, safe mode: the ledger store is probed (a
 * write and a read) every interval, each probe under its own hard deadline,
 * so a hung store counts as a failure in seconds. What a probe's result means
 * is decided in governors/deciders/safe-mode.ts; this runs the probes, writes
 * the platform receipts, switches the ledger log to its spool and back, and
 * raises the alerts.
 */
import type { Logger } from "pino";
import { countRefusal, decideProbe, decideRecovered, enteredAt, healthyStore, type StoreHealth } from "../../governors/deciders/safe-mode.ts";
import type { Effect } from "../../governors/decision.ts";
import type { Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import type { LedgerLog } from "../log/ledger-log.ts";
import { StoreUnavailableError, type AlertSink, type Clock, type LedgerStore } from "../ports/index.ts";

export interface HealthTickOptions {
  readonly store: LedgerStore;
  readonly log: LedgerLog;
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

export class HealthTick {
  readonly #o: HealthTickOptions;
  #health: StoreHealth = healthyStore;
  #timer: { cancel(): void } | null = null;
  #spooledAtEntry = 0;
  #lastProbeAt: number | null = null;
  #lastProbeMs: number | null = null;
  #probing = false;
  #stopped = false;

  constructor(options: HealthTickOptions) {
    this.#o = options;
  }

  get degraded(): boolean {
    return this.#health.degradedAt !== null;
  }

  /** Counts an action refused because of safe mode (reported in `degraded_mode_cleared`). */
  countRefusal(): void {
    this.#health = countRefusal(this.#health);
  }

  state(): HealthState {
    const h = this.#health;
    return {
      degraded: this.degraded,
      store: this.degraded ? "down" : h.failures > 0 ? "failing" : "ok",
      consecutiveFailures: h.failures,
      lastProbeAt: this.#lastProbeAt === null ? null : new Date(this.#lastProbeAt).toISOString(),
      lastProbeMs: this.#lastProbeMs,
      lastError: h.lastError,
      degradedSince: h.degradedAt === null ? null : new Date(h.degradedAt).toISOString(),
      actionsRefused: h.refused,
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
      let result: { ok: true } | { ok: false; error: string };
      try {
        await this.#probe();
        result = { ok: true };
      } catch (err) {
        result = { ok: false, error: err instanceof Error ? err.message : String(err) };
        this.#o.logger.warn({ consecutive_failures: this.#health.failures + 1, err: result.error }, "ledger store health probe failed");
      }
      this.#lastProbeMs = this.#o.clock.now() - started;
      const d = decideProbe(this.#health, result, this.#o.failureThreshold);
      this.#health = d.health;
      if (d.next === "enter") {
        this.#health = enteredAt(d.health, this.#o.clock.now());
        this.#o.log.enterSpoolMode();
        for (const draft of d.drafts) this.#o.sealPlatform(draft);
        this.#o.logger.error({ code: "SAFE_MODE", consecutive_failures: d.health.failures }, "safe mode: the ledger store is failing; intake refused, receipts spooled to local disk");
        this.#raise(d.effects);
      } else if (d.next === "recover") {
        await this.#recover();
      }
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

  async #recover(): Promise<void> {
    let spooled: number;
    try {
      spooled = await this.#o.log.leaveSpoolMode();
    } catch (err) {
      this.#health = { ...this.#health, lastError: `spool drain failed: ${err instanceof Error ? err.message : String(err)}` };
      this.#o.logger.error({ err }, "the store answered a probe but the spool could not be drained; staying in safe mode");
      return;
    }
    const d = decideRecovered(this.#health, spooled, this.#o.clock.now());
    const receipt = this.#o.sealPlatform(d.draft);
    this.#health = d.health;
    this.#o.logger.info(
      { downtime_seconds: d.draft.downtime_seconds, actions_refused: d.draft.actions_refused, spooled_receipts: spooled, seq: receipt.seq },
      "safe mode cleared: spool drained, intake resumed",
    );
    this.#raise(d.effects);
    this.#o.onCleared?.();
  }

  #raise(effects: readonly Effect[]): void {
    for (const e of effects) if (e.type === "alert") this.#o.alerts.alert({ code: e.code, message: e.message, details: e.details });
  }
}
