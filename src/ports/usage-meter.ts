/**
 * Driven port: Service Control, where usage is billed. The usage reporter
 * checks a consumer first, then reports one operation per window.
 *
 * Errors are PortErrors: `UsageMeterError`, retryable when Service Control
 * could not be reached or answered 429/5xx.
 */
import { PortError } from "./errors.ts";

/** One metric's value in a report. */
export interface MetricValue {
  /** The full metric name, `<service name>/<metric>`. */
  readonly metric: string;
  readonly quantity: number;
}

/** One usage operation: a window of one consumer's usage. */
export interface UsageOperation {
  /** Deterministic from the ledger, so a retry of the same window is the same operation (idempotent). */
  readonly operationId: string;
  readonly operationName: string;
  /** The entitlement's `usageReportingId`. */
  readonly consumerId: string;
  /** RFC 3339. */
  readonly startTime: string;
  readonly endTime: string;
  readonly metrics: readonly MetricValue[];
  /** Labels Service Control keeps with the operation (e.g. the entitlement id). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** What `services.check` said of a consumer: served, or not and why (its checkErrors' codes). */
export type UsageCheck = { readonly ok: true } | { readonly ok: false; readonly codes: readonly string[]; readonly detail: string };

export interface UsageMeter {
  check(operation: UsageOperation): Promise<UsageCheck>;
  /** Throws UsageMeterError when the report was not accepted (reportErrors, or no answer). */
  report(operation: UsageOperation): Promise<void>;
}

export class UsageMeterError extends PortError {
  readonly code: "USAGE_METER_UNAVAILABLE" | "USAGE_METER_REFUSED";
  readonly retryable: boolean;
  readonly status: number | null;
  constructor(message: string, options: { retryable: boolean; status: number | null; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UsageMeterError";
    this.retryable = options.retryable;
    this.status = options.status;
    this.code = options.retryable ? "USAGE_METER_UNAVAILABLE" : "USAGE_METER_REFUSED";
  }
}
