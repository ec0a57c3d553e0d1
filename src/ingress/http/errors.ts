/**
 * Errors that cross the HTTP API: a status, a stable code and a message that
 * says what to fix. The body is always `{ "error": { "code", "message" } }`.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { z } from "zod";
import { JsonViolationKind } from "../../ledger/json-limits.ts";
import type { Metrics } from "./metrics.ts";

export const ApiErrorCode = {
  authMissing: "AUTH_TOKEN_MISSING",
  authInvalid: "AUTH_TOKEN_INVALID",
  authScope: "AUTH_SCOPE_FORBIDDEN",
  webhookHeaders: "WEBHOOK_HEADERS_MISSING",
  webhookSignature: "WEBHOOK_SIGNATURE_INVALID",
  webhookExpired: "WEBHOOK_TIMESTAMP_EXPIRED",
  webhookFuture: "WEBHOOK_TIMESTAMP_IN_FUTURE",
  bodyJson: "BODY_INVALID_JSON",
  bodyTooLarge: "BODY_TOO_LARGE",
  bodyInvalid: "BODY_INVALID",
  bodyMediaType: "BODY_UNSUPPORTED_MEDIA_TYPE",
  bodyTooDeep: "BODY_TOO_DEEP",
  bodyTooManyMembers: "BODY_TOO_MANY_MEMBERS",
  bodyStringTooLong: "BODY_STRING_TOO_LONG",
  bodyNumberOutOfRange: "BODY_NUMBER_OUT_OF_RANGE",
  bodyDuplicateMember: "BODY_DUPLICATE_MEMBER",
  queryInvalid: "QUERY_INVALID",
  tenantUnknown: "TENANT_UNKNOWN",
  tenantUnavailable: "TENANT_UNAVAILABLE",
  tenantSuspended: "TENANT_SUSPENDED",
  tenantQuarantined: "TENANT_QUARANTINED",
  tenantNotQuarantined: "TENANT_NOT_QUARANTINED",
  tenantRebuildFailed: "TENANT_REBUILD_FAILED",
  signalNotDurable: "SIGNAL_NOT_DURABLE",
  safeMode: "SAFE_MODE",
  notFound: "NOT_FOUND",
  methodNotAllowed: "METHOD_NOT_ALLOWED",
  internal: "INTERNAL",
  shuttingDown: "SHUTTING_DOWN",
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** The answer to each JSON bound a body breaks: 400 and its own code. */
export const bodyLimitCode: Record<JsonViolationKind, string> = {
  [JsonViolationKind.tooDeep]: ApiErrorCode.bodyTooDeep,
  [JsonViolationKind.tooManyMembers]: ApiErrorCode.bodyTooManyMembers,
  [JsonViolationKind.stringTooLong]: ApiErrorCode.bodyStringTooLong,
  [JsonViolationKind.numberOutOfRange]: ApiErrorCode.bodyNumberOutOfRange,
  [JsonViolationKind.duplicateMember]: ApiErrorCode.bodyDuplicateMember,
  [JsonViolationKind.numberNotCanonical]: ApiErrorCode.bodyJson,
};

/** A schema's refusal in one line: the first five issues, each at its path. */
export function zodMessage(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "body"}: ${i.message}`)
    .join("; ");
}

/**
 * Answers every error in the API's format: ours as they are, Fastify's body
 * errors with our codes, a ledger that does not link as 409, anything else as
 * 500 with the details in the log only. Unknown routes get 404 `NOT_FOUND`.
 */
export function installErrorHandlers(app: FastifyInstance, options: { readonly bodyLimitBytes: number; readonly metrics: Metrics }): void {
  const { metrics } = options;
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const apiError = toApiError(err, req, options.bodyLimitBytes);
    metrics.httpErrors.inc({ code: apiError.code });
    if (apiError.status < 500) req.log.info({ code: apiError.code, status: apiError.status }, apiError.message);
    void reply.status(apiError.status).headers(apiError.headers).send({ error: { code: apiError.code, message: apiError.message } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: ApiErrorCode.notFound, message: `no route ${req.method} ${req.url.split("?")[0]}` } });
  });
}

function toApiError(err: Error & { statusCode?: number; code?: string }, req: FastifyRequest, bodyLimitBytes: number): ApiError {
  if (err instanceof ApiError) return err;
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    const limit = req.routeOptions.bodyLimit ?? bodyLimitBytes;
    const which = req.routeOptions.url === "/v1/policies" ? "the policy document limit" : "GOVERNOR_BODY_LIMIT_BYTES";
    return new ApiError(413, ApiErrorCode.bodyTooLarge, `the body is larger than ${limit} bytes (${which})`);
  }
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return new ApiError(415, ApiErrorCode.bodyMediaType, "send the body as application/json");
  if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY") return new ApiError(400, ApiErrorCode.bodyJson, "the body is empty; send a JSON object");
  if (err.code === "LEDGER_CHAIN_BROKEN") {
    // The stored chain does not link: nothing is signed over it (the log and the tenant's quarantine have the details).
    req.log.error({ err }, "a ledger read for this request does not link");
    return new ApiError(409, "LEDGER_CHAIN_BROKEN", `${err.message.slice(0, 300)}; nothing is signed or exported over a chain that does not link`);
  }
  if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) return new ApiError(err.statusCode, ApiErrorCode.bodyInvalid, err.message);
  req.log.error({ err }, "request failed");
  return new ApiError(500, ApiErrorCode.internal, "the request failed inside Governor; the log has the details");
}
