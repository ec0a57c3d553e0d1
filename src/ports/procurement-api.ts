/**
 * Driven port: Google Cloud Marketplace's Partner Procurement API, as the
 * marketplace workflows use it. A procurement event is only a notification:
 * the workflows read the entitlement or account it names from here and act
 * on what this says, then approve or reject through it.
 *
 * Resources are named by their last path segment (`providers/P/entitlements/E`
 * → `E`); the adapter adds the provider. A resource that does not exist is
 * `null`, never an error.
 *
 * Errors are PortErrors: `ProcurementApiError` with `retryable` true when
 * the API could not be reached, timed out, or answered 429 or 5xx (the event
 * is delivered again later), false when it refused the call (4xx: a wrong
 * state, a bad argument, no permission).
 */
import { PortError } from "./errors.ts";

/** The entitlement states the API documents (EntitlementState); the API may add more. */
export const EntitlementState = {
  activationRequested: "ENTITLEMENT_ACTIVATION_REQUESTED",
  active: "ENTITLEMENT_ACTIVE",
  pendingCancellation: "ENTITLEMENT_PENDING_CANCELLATION",
  cancelled: "ENTITLEMENT_CANCELLED",
  pendingPlanChange: "ENTITLEMENT_PENDING_PLAN_CHANGE",
  pendingPlanChangeApproval: "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL",
  suspended: "ENTITLEMENT_SUSPENDED",
} as const;

/** The account states the API documents (AccountState). */
export const AccountState = {
  activationRequested: "ACCOUNT_ACTIVATION_REQUESTED",
  active: "ACCOUNT_ACTIVE",
} as const;

/** An entitlement as the API returns it, reduced to what Governor reads. */
export interface ProcurementEntitlement {
  /** The entitlement id (last segment of `name`). */
  readonly id: string;
  /** The procurement account id (last segment of `account`), or null when the entitlement names none. */
  readonly accountId: string | null;
  /** The product procured: `productExternalName`, else `product`. Governor's SKU id. */
  readonly product: string;
  readonly plan: string;
  /** One of EntitlementState, or a state the API added since. */
  readonly state: string;
  /** The plan a pending plan change asks for (`newPendingPlan`), or null. */
  readonly newPendingPlan: string | null;
  /** Service Control's consumer id for this entitlement's usage (`usageReportingId`), or null. */
  readonly usageReportingId: string | null;
  /** RFC 3339, or null. */
  readonly updateTime: string | null;
  /** When a private offer starts (`newOfferStartTime`, RFC 3339), or null. */
  readonly newOfferStartTime: string | null;
  /** `inputProperties.region` when it is a string, else null. */
  readonly region: string | null;
  /** Why it was cancelled (`cancellationReason`), or null. */
  readonly cancellationReason: string | null;
}

/** One approval of an account (the sign-up's is named `signup`). */
export interface ProcurementApproval {
  readonly name: string;
  readonly state: string;
  readonly reason: string | null;
}

/** An account as the API returns it. */
export interface ProcurementAccount {
  /** The account id (last segment of `name`). */
  readonly id: string;
  /** One of AccountState, or a state the API added since. */
  readonly state: string;
  readonly approvals: readonly ProcurementApproval[];
  readonly updateTime: string | null;
}

/** One page of the provider's entitlements. */
export interface EntitlementPage {
  readonly entitlements: readonly ProcurementEntitlement[];
  readonly nextPageToken: string | null;
}

/** Google's limit on a rejection reason: 256 bytes of UTF-8 (the API cuts a longer one). */
export const MAX_REJECTION_REASON_BYTES = 256;

/**
 * `value` cut to at most `maxBytes` bytes of UTF-8, at a character boundary
 * (a code point is never split, so the result is valid UTF-8). The adapter
 * cuts every reason it sends with it; a caller that records the reason can
 * cut it first, so the record says what was sent.
 */
export function cutToUtf8Bytes(value: string, maxBytes: number = MAX_REJECTION_REASON_BYTES): string {
  if (Buffer.byteLength(value, "utf8") <= maxBytes) return value;
  let bytes = 0;
  let end = 0;
  for (const ch of value) {
    const size = Buffer.byteLength(ch, "utf8");
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return value.slice(0, end);
}

export interface ProcurementApi {
  getEntitlement(id: string): Promise<ProcurementEntitlement | null>;
  /** One page of the provider's entitlements (`pageSize` at most 200). */
  listEntitlements(pageToken?: string, pageSize?: number): Promise<EntitlementPage>;
  getAccount(id: string): Promise<ProcurementAccount | null>;
  /** `providers.accounts.approve`; `approvalName` is `signup` for the sign-up. */
  approveAccount(id: string, approvalName: string, reason?: string): Promise<void>;
  approveEntitlement(id: string): Promise<void>;
  /** `reason` at most MAX_REJECTION_REASON_BYTES bytes of UTF-8 (the caller fits it). */
  rejectEntitlement(id: string, reason: string): Promise<void>;
  approvePlanChange(id: string, pendingPlanName: string): Promise<void>;
  rejectPlanChange(id: string, pendingPlanName: string, reason: string): Promise<void>;
}

/** A call the API refused or could not answer. */
export class ProcurementApiError extends PortError {
  readonly code: "PROCUREMENT_API_UNAVAILABLE" | "PROCUREMENT_API_REFUSED";
  readonly retryable: boolean;
  /** The HTTP status, when the API answered. */
  readonly status: number | null;
  constructor(message: string, options: { retryable: boolean; status: number | null; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProcurementApiError";
    this.retryable = options.retryable;
    this.status = options.status;
    this.code = options.retryable ? "PROCUREMENT_API_UNAVAILABLE" : "PROCUREMENT_API_REFUSED";
  }
}
