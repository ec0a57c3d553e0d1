/**
 * The ProcurementApi port on Google's Partner Procurement API v1, through
 * Google's generated client (`@googleapis/cloudcommerceprocurement`).
 *
 * Every call carries a deadline and is tried once: a failed call is the
 * caller's to repeat (the procurement event is nacked and Pub/Sub delivers it
 * again), so the client's own retries are off. Answers are validated and
 * bounded before anything of them is used; one that does not parse is a
 * refusal naming the field, since asking again would get the same answer.
 *
 * The client's error objects carry the request, with its Authorization
 * header; they never leave this file. A ProcurementApiError names the method,
 * the HTTP status and the API's own status and message, nothing else.
 */
import { auth as googleAuth, cloudcommerceprocurement, type cloudcommerceprocurement_v1 } from "@googleapis/cloudcommerceprocurement";
import type { Logger } from "pino";
import { z } from "zod";
import {
  cutToUtf8Bytes,
  ProcurementApiError,
  type EntitlementPage,
  type ProcurementAccount,
  type ProcurementApi,
  type ProcurementEntitlement,
} from "../../ports/index.ts";

/** How to reach the API. */
export interface ProcurementApiOptions {
  /** The partner's provider id: resources are `providers/{providerId}/…`. */
  readonly providerId: string;
  /** The API's root URL (Google's, or a local double's). */
  readonly rootUrl: string;
  /** `adc`: Application Default Credentials, scope cloud-platform; `none`: no credentials (a local double). */
  readonly auth: "adc" | "none";
  /** Deadline of every call, token fetch included (default 10 s). */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

/** Deadline of one call when none is given. */
export const defaultProcurementTimeoutMs = 10_000;

const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";
/** The most a page of entitlements may hold (the API's own limit). */
const MAX_PAGE_SIZE = 200;
const MAX_ID_CHARS = 256;
const MAX_STRING_CHARS = 1024;
/** Larger answers are refused unread: a page of 200 entitlements is far below it. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
const MAX_APPROVALS = 64;
/** A page holds at most the page size asked for; this only bounds an API that ignores it. */
const MAX_PAGE_ENTRIES = 1000;
/** The API's own message is quoted in errors up to this length. */
const MAX_QUOTED_CHARS = 300;


// Answers from outside: every string bounded, ids printable and without '/'.
const id = z.string().min(1).max(MAX_ID_CHARS).regex(/^[\x21-\x2e\x30-\x7e]+$/, "expected an id: printable ASCII, no '/'");
const text = z.string().max(MAX_STRING_CHARS);
const resourceName = text.regex(/^[^/]+(\/[^/]+)*$/, "expected a resource name");
/** RFC 3339; the API leaves an unset time empty or out. */
const time = z.union([z.literal(""), z.iso.datetime({ offset: true })]).nullish().transform((v) => (v === "" || v === undefined ? null : v));
const optionalText = text.nullish().transform((v) => (v === "" || v === undefined ? null : v));
/** `inputProperties.region` is the customer's input: only a string counts. */
const region = z.unknown().transform((v, ctx) => {
  if (typeof v !== "string") return null;
  if (v.length > MAX_STRING_CHARS) {
    ctx.addIssue({ code: "custom", message: `longer than ${MAX_STRING_CHARS} characters` });
    return z.NEVER;
  }
  return v;
});

const entitlementSchema = z.object({
  name: resourceName,
  account: optionalText,
  product: optionalText,
  productExternalName: optionalText,
  plan: text.min(1),
  state: text.min(1),
  newPendingPlan: optionalText,
  usageReportingId: optionalText,
  updateTime: time,
  newOfferStartTime: time,
  inputProperties: z.object({ region }).nullish(),
  cancellationReason: optionalText,
});

const accountSchema = z.object({
  name: resourceName,
  state: text.min(1),
  approvals: z
    .array(z.object({ name: text.min(1), state: text.min(1), reason: optionalText }))
    .max(MAX_APPROVALS)
    .nullish(),
  updateTime: time,
});

const pageSchema = z.object({
  entitlements: z.array(z.unknown()).max(MAX_PAGE_ENTRIES).nullish(),
  nextPageToken: optionalText,
});

/** The last path segment of a resource name, checked as an id. */
function lastSegment(name: string): string | undefined {
  const segment = name.slice(name.lastIndexOf("/") + 1);
  return id.safeParse(segment).success ? segment : undefined;
}

/** Where a zod failure is, as `field: problem`. */
function describeIssue(error: z.ZodError, prefix: string): string {
  const issue = error.issues[0];
  if (issue === undefined) return prefix || "answer";
  const path = [prefix, ...issue.path.map(String)].filter((p) => p !== "").join(".");
  return `${path || "answer"}: ${issue.message}`;
}

function unparsable(method: string, field: string): ProcurementApiError {
  return new ProcurementApiError(`Procurement API ${method} answered what does not parse (${field})`, { retryable: false, status: null });
}

/** An entitlement as the API returned it, validated and reduced to the port's shape. */
function toEntitlement(method: string, raw: unknown, field = ""): ProcurementEntitlement {
  const parsed = entitlementSchema.safeParse(raw);
  if (!parsed.success) throw unparsable(method, describeIssue(parsed.error, field));
  const e = parsed.data;
  const entitlementId = lastSegment(e.name);
  if (entitlementId === undefined) throw unparsable(method, `${field ? `${field}.` : ""}name: expected …/entitlements/{id}`);
  let accountId: string | null = null;
  if (e.account !== null) {
    const segment = lastSegment(e.account);
    if (segment === undefined) throw unparsable(method, `${field ? `${field}.` : ""}account: expected …/accounts/{id}`);
    accountId = segment;
  }
  const product = e.productExternalName ?? e.product;
  if (product === null) throw unparsable(method, `${field ? `${field}.` : ""}product: missing`);
  return {
    id: entitlementId,
    accountId,
    product,
    plan: e.plan,
    state: e.state,
    newPendingPlan: e.newPendingPlan,
    usageReportingId: e.usageReportingId,
    updateTime: e.updateTime,
    newOfferStartTime: e.newOfferStartTime,
    region: e.inputProperties?.region ?? null,
    cancellationReason: e.cancellationReason,
  };
}

function toAccount(method: string, raw: unknown): ProcurementAccount {
  const parsed = accountSchema.safeParse(raw);
  if (!parsed.success) throw unparsable(method, describeIssue(parsed.error, ""));
  const a = parsed.data;
  const accountId = lastSegment(a.name);
  if (accountId === undefined) throw unparsable(method, "name: expected …/accounts/{id}");
  return {
    id: accountId,
    state: a.state,
    approvals: (a.approvals ?? []).map((x) => ({ name: x.name, state: x.state, reason: x.reason })),
    updateTime: a.updateTime,
  };
}

/** The HTTP status of one of the client's errors, when the API answered. */
function statusOf(err: unknown): number | null {
  if (typeof err !== "object" || err === null) return null;
  const e = err as { status?: unknown; response?: { status?: unknown } };
  for (const v of [e.response?.status, e.status]) {
    if (typeof v === "number" && v >= 100 && v < 600) return v;
  }
  return null;
}

/** The API's own `{error: {status, message}}`, one line and bounded. */
function apiErrorDetail(err: unknown): string {
  const data = (err as { response?: { data?: unknown } } | null)?.response?.data;
  const error = typeof data === "object" && data !== null ? (data as { error?: unknown }).error : undefined;
  if (typeof error !== "object" || error === null) return "";
  const { status, message } = error as { status?: unknown; message?: unknown };
  const parts = [typeof status === "string" ? status : "", typeof message === "string" ? message : ""].filter((p) => p !== "");
  const one = parts.join(": ").replace(/\s+/g, " ");
  return one.length > MAX_QUOTED_CHARS ? `${one.slice(0, MAX_QUOTED_CHARS)}…` : one;
}

/** A refusal is any answer but 429 and 5xx; no answer at all may come later. */
function isRetryableStatus(status: number | null): boolean {
  return status === null || status === 429 || status >= 500;
}

/** An answer larger than MAX_ANSWER_BYTES, which the client refuses to read. */
function isOversize(err: unknown): boolean {
  const e = err as { type?: unknown; message?: unknown } | null;
  return e?.type === "max-size" || (typeof e?.message === "string" && /over the limit|over limit/i.test(e.message));
}

/** A failure's code (` (ECONNREFUSED)`), when it has one: all that is said of it. */
function networkCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = [e?.code, e?.cause?.code].find((c): c is string => typeof c === "string" && /^[A-Z][A-Z0-9_]{1,40}$/.test(c));
  return code === undefined ? "" : ` (${code})`;
}

/** The origin a failed request went to, when the error says. */
function originOf(err: unknown): string | null {
  const url = (err as { config?: { url?: unknown } } | null)?.config?.url;
  if (typeof url !== "string" && !(url instanceof URL)) return null;
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/**
 * Turns what a call threw into a ProcurementApiError that carries nothing of
 * the request. A failure of another origin's request is the credentials'
 * (their token exchange), not the API's: its status says nothing about the call.
 */
function toProcurementError(method: string, err: unknown, apiOrigin: string): ProcurementApiError {
  if (err instanceof ProcurementApiError) return err;
  if (isOversize(err)) return new ProcurementApiError(`Procurement API ${method} answered more than ${MAX_ANSWER_BYTES} bytes`, { retryable: false, status: statusOf(err) });
  const origin = originOf(err);
  if (origin !== null && origin !== apiOrigin) {
    const tokenStatus = statusOf(err);
    return new ProcurementApiError(`Procurement API ${method}: no credentials (the token request ${tokenStatus === null ? "got no answer" : `answered ${tokenStatus}`})`, { retryable: true, status: null });
  }
  const status = statusOf(err);
  const detail = apiErrorDetail(err);
  const retryable = isRetryableStatus(status);
  const what = status === null ? `got no answer${networkCode(err)}` : `answered ${status}`;
  return new ProcurementApiError(`Procurement API ${method} ${what}${detail === "" ? "" : `: ${detail}`}`, { retryable, status });
}

/** The API's generated client, with credentials or with none at all. */
function createClient(options: ProcurementApiOptions, timeoutMs: number): cloudcommerceprocurement_v1.Cloudcommerceprocurement {
  // Without an auth client the generated client sends its request as it is, with no Authorization header.
  const credentials = options.auth === "adc" ? { auth: new googleAuth.GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] }) } : {};
  return cloudcommerceprocurement({
    version: "v1",
    rootUrl: options.rootUrl,
    ...credentials,
    // The call's own deadline aborts the request; this only bounds a socket that outlives it.
    timeout: timeoutMs + 1_000,
    retry: false,
    maxContentLength: MAX_ANSWER_BYTES,
  });
}

/**
 * A ProcurementApi on Google's Partner Procurement API. A wrong id (empty,
 * longer than 256 characters, or with a `/`) is refused before any request.
 */
export function createProcurementApi(options: ProcurementApiOptions): ProcurementApi {
  const timeoutMs = options.timeoutMs ?? defaultProcurementTimeoutMs;
  const client = createClient(options, timeoutMs);
  const provider = `providers/${options.providerId}`;
  const apiOrigin = new URL(options.rootUrl).origin;
  const log = options.logger;

  const nameOf = (method: string, kind: "entitlements" | "accounts", resourceId: string): string => {
    if (!id.safeParse(resourceId).success) throw new ProcurementApiError(`Procurement API ${method}: not an id`, { retryable: false, status: null });
    return `${provider}/${kind}/${resourceId}`;
  };

  /** One request under the deadline; the deadline aborts the request too. */
  const call = async <T>(method: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new ProcurementApiError(`Procurement API ${method} did not answer within ${timeoutMs} ms`, { retryable: true, status: null });
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      return await Promise.race([run(controller.signal), deadline]);
    } catch (err) {
      const mapped = toProcurementError(method, err, apiOrigin);
      log?.debug({ method, status: mapped.status, retryable: mapped.retryable, code: mapped.code }, "Procurement API call failed");
      throw mapped;
    } finally {
      clearTimeout(timer);
    }
  };

  /** A get whose 404 is an absent resource. */
  const getOrNull = async <T>(method: string, run: (signal: AbortSignal) => Promise<T>): Promise<T | null> => {
    try {
      return await call(method, run);
    } catch (err) {
      if (err instanceof ProcurementApiError && err.status === 404) return null;
      throw err;
    }
  };

  const entitlements = client.providers.entitlements;
  const accounts = client.providers.accounts;

  return {
    async getEntitlement(entitlementId) {
      const method = "providers.entitlements.get";
      const name = nameOf(method, "entitlements", entitlementId);
      return getOrNull(method, async (signal) => toEntitlement(method, (await entitlements.get({ name }, { signal })).data));
    },

    async listEntitlements(pageToken, pageSize) {
      const method = "providers.entitlements.list";
      const size = Math.max(1, Math.min(MAX_PAGE_SIZE, Math.floor(pageSize ?? MAX_PAGE_SIZE)));
      if (pageToken !== undefined && (pageToken.length === 0 || pageToken.length > MAX_STRING_CHARS)) {
        throw new ProcurementApiError(`Procurement API ${method}: not a page token`, { retryable: false, status: null });
      }
      return call(method, async (signal): Promise<EntitlementPage> => {
        const res = await entitlements.list({ parent: provider, pageSize: size, ...(pageToken === undefined ? {} : { pageToken }) }, { signal });
        const parsed = pageSchema.safeParse(res.data);
        if (!parsed.success) throw unparsable(method, describeIssue(parsed.error, ""));
        return {
          entitlements: (parsed.data.entitlements ?? []).map((e, i) => toEntitlement(method, e, `entitlements.${i}`)),
          nextPageToken: parsed.data.nextPageToken,
        };
      });
    },

    async getAccount(accountId) {
      const method = "providers.accounts.get";
      const name = nameOf(method, "accounts", accountId);
      return getOrNull(method, async (signal) => toAccount(method, (await accounts.get({ name }, { signal })).data));
    },

    async approveAccount(accountId, approvalName, reason) {
      const method = "providers.accounts.approve";
      const name = nameOf(method, "accounts", accountId);
      const requestBody = { approvalName, ...(reason === undefined ? {} : { reason: cutToUtf8Bytes(reason) }) };
      await call(method, (signal) => accounts.approve({ name, requestBody }, { signal }));
    },

    async approveEntitlement(entitlementId) {
      const method = "providers.entitlements.approve";
      const name = nameOf(method, "entitlements", entitlementId);
      await call(method, (signal) => entitlements.approve({ name, requestBody: {} }, { signal }));
    },

    async rejectEntitlement(entitlementId, reason) {
      const method = "providers.entitlements.reject";
      const name = nameOf(method, "entitlements", entitlementId);
      await call(method, (signal) => entitlements.reject({ name, requestBody: { reason: cutToUtf8Bytes(reason) } }, { signal }));
    },

    async approvePlanChange(entitlementId, pendingPlanName) {
      const method = "providers.entitlements.approvePlanChange";
      const name = nameOf(method, "entitlements", entitlementId);
      await call(method, (signal) => entitlements.approvePlanChange({ name, requestBody: { pendingPlanName } }, { signal }));
    },

    async rejectPlanChange(entitlementId, pendingPlanName, reason) {
      const method = "providers.entitlements.rejectPlanChange";
      const name = nameOf(method, "entitlements", entitlementId);
      await call(method, (signal) => entitlements.rejectPlanChange({ name, requestBody: { pendingPlanName, reason: cutToUtf8Bytes(reason) } }, { signal }));
    },
  };
}
