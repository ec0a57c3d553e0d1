/**
 * The UsageMeter port on Google Service Control v1 (`services.check`,
 * `services.report`), through the generated client `@googleapis/servicecontrol`.
 *
 * The client's own retries are off: a failed report stays pending in the
 * ledger and the usage reporter sends it again with the same operation id,
 * which Service Control deduplicates. Every call carries its own deadline.
 * Errors carry a status and a short reason, never the client's error (its
 * request config holds the Authorization header).
 */
import { auth as googleAuth, servicecontrol, type servicecontrol_v1 } from "@googleapis/servicecontrol";
import { z } from "zod";
import { UsageMeterError, type UsageCheck, type UsageMeter, type UsageOperation } from "../../ports/index.ts";

export interface UsageMeterOptions {
  /** The service the metrics belong to (the Marketplace product's service name). */
  readonly serviceName: string;
  /** `https://servicecontrol.googleapis.com/`, or a test double's address. */
  readonly rootUrl: string;
  /** `adc`: Application Default Credentials; `none`: no Authorization header (a local double). */
  readonly auth: "adc" | "none";
  /** Deadline of each call (default 10 s). */
  readonly timeoutMs?: number;
}

const SCOPE = "https://www.googleapis.com/auth/servicecontrol";
const MAX_CODES = 16;

const shortText = (max: number) => z.string().transform((s) => (s.length > max ? `${s.slice(0, max - 1)}…` : s));
const checkResponse = z.object({
  checkErrors: z.array(z.object({ code: shortText(128).nullish(), detail: shortText(256).nullish() })).max(1000).nullish(),
});
const reportResponse = z.object({
  reportErrors: z
    .array(z.object({ operationId: shortText(128).nullish(), status: z.object({ code: z.number().int().nullish(), message: shortText(256).nullish() }).nullish() }))
    .max(1000)
    .nullish(),
});

/** google.rpc.Code values a later call may clear: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE. */
const RETRYABLE_RPC = new Set([4, 8, 10, 13, 14]);

/** The operation as Service Control takes it: metric values as int64 strings, labels as user labels. */
function toOperation(op: UsageOperation): servicecontrol_v1.Schema$Operation {
  return {
    operationId: op.operationId,
    operationName: op.operationName,
    consumerId: op.consumerId,
    startTime: op.startTime,
    endTime: op.endTime,
    metricValueSets: op.metrics.map((m) => ({ metricName: m.metric, metricValues: [{ int64Value: String(m.quantity) }] })),
    ...(op.labels === undefined ? {} : { userLabels: { ...op.labels } }),
  };
}

/** What a failed call becomes: retryable when nothing answered, or 429/5xx. */
function failure(what: string, err: unknown): UsageMeterError {
  const e = err as { status?: unknown; response?: { status?: unknown }; code?: unknown; name?: unknown };
  const raw = typeof e.status === "number" ? e.status : typeof e.response?.status === "number" ? e.response.status : null;
  if (raw === null) {
    const why = e.name === "AbortError" || e.name === "TimeoutError" ? "no answer in time" : typeof e.code === "string" ? e.code : "no answer";
    return new UsageMeterError(`Service Control ${what}: ${why}`, { retryable: true, status: null });
  }
  return new UsageMeterError(`Service Control ${what}: HTTP ${raw}`, { retryable: raw === 429 || raw >= 500, status: raw });
}

/** Creates the Service Control usage meter. */
export function createUsageMeter(options: UsageMeterOptions): UsageMeter {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const client = servicecontrol({
    version: "v1",
    rootUrl: options.rootUrl,
    ...(options.auth === "adc" ? { auth: new googleAuth.GoogleAuth({ scopes: [SCOPE] }) } : {}),
  });
  const callOptions = () => ({ retry: false, timeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
  const serviceName = options.serviceName;

  return {
    async check(op) {
      let data: unknown;
      try {
        data = (await client.services.check({ serviceName, requestBody: { operation: toOperation(op) } }, callOptions())).data;
      } catch (err) {
        throw failure("check", err);
      }
      const parsed = checkResponse.safeParse(data ?? {});
      if (!parsed.success) throw new UsageMeterError("Service Control check: an answer that is not a CheckResponse", { retryable: true, status: 200 });
      const errors = parsed.data.checkErrors ?? [];
      if (errors.length === 0) return { ok: true } satisfies UsageCheck;
      const codes = errors.slice(0, MAX_CODES).map((c) => c.code ?? "UNSPECIFIED");
      const detail = errors
        .slice(0, MAX_CODES)
        .map((c) => `${c.code ?? "UNSPECIFIED"}${c.detail ? `: ${c.detail}` : ""}`)
        .join("; ")
        .slice(0, 1024);
      return { ok: false, codes, detail };
    },

    async report(op) {
      let data: unknown;
      try {
        data = (await client.services.report({ serviceName, requestBody: { operations: [toOperation(op)] } }, callOptions())).data;
      } catch (err) {
        throw failure("report", err);
      }
      const parsed = reportResponse.safeParse(data ?? {});
      if (!parsed.success) throw new UsageMeterError("Service Control report: an answer that is not a ReportResponse", { retryable: true, status: 200 });
      const [first] = parsed.data.reportErrors ?? [];
      if (first === undefined) return;
      const code = first.status?.code ?? null;
      throw new UsageMeterError(`Service Control report: operation ${op.operationId} not accepted (rpc code ${code ?? "unknown"}${first.status?.message ? `: ${first.status.message}` : ""})`, {
        retryable: code !== null && RETRYABLE_RPC.has(code),
        status: 200,
      });
    },
  };
}
