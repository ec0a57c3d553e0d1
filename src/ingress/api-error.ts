/**
 * Errors that cross the HTTP API: a status, a stable code and a message that
 * says what to fix. The body is always `{ "error": { "code", "message" } }`.
 */

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
