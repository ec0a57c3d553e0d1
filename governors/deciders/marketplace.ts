/**
 * Google Cloud Marketplace decisions, pure: how the SKU's policy decides a
 * request on an entitlement (its creation, or a plan change), and what
 * brings a governor to the state the Partner Procurement API gives its
 * entitlement (the reconciliation). The app reads the API, calls these,
 * and carries out what they return.
 */
import type { PolicyView } from "../policy-view.ts";

/** The entitlement states the Procurement API documents (mirrors the port's EntitlementState). */
const ACTIVATION_REQUESTED = "ENTITLEMENT_ACTIVATION_REQUESTED";
const ACTIVE = "ENTITLEMENT_ACTIVE";
const PENDING_CANCELLATION = "ENTITLEMENT_PENDING_CANCELLATION";
const CANCELLED = "ENTITLEMENT_CANCELLED";
const PENDING_PLAN_CHANGE = "ENTITLEMENT_PENDING_PLAN_CHANGE";
const PENDING_PLAN_CHANGE_APPROVAL = "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL";
const SUSPENDED = "ENTITLEMENT_SUSPENDED";

/** A request the policy decides: the plan asked for, and the region when the entitlement names one. */
export interface ApprovalRequest {
  readonly skuId: string;
  readonly plan: string;
  readonly region: string | null;
}

export type ApprovalDecision =
  | { readonly decision: "approved"; readonly reason: string }
  | { readonly decision: "rejected"; readonly reason: string }
  | { readonly decision: "awaiting_manual"; readonly reason: string };

/**
 * Decides a request by the SKU's policy: no policy, or a plan or region the
 * policy does not accept → rejected (the reason says which and what is
 * accepted); `manual` → left to a person; else approved.
 */
export function decideApproval(policy: PolicyView | undefined, request: ApprovalRequest): ApprovalDecision {
  if (policy === undefined) return { decision: "rejected", reason: `Governor has no policy for product "${request.skuId}"` };
  const rules = policy.marketplace;
  if (!policy.plans.has(request.plan)) {
    return { decision: "rejected", reason: `product "${request.skuId}" has no plan "${request.plan}"; its plans: ${[...policy.plans.keys()].join(", ")}` };
  }
  if (rules?.acceptPlans != null && !rules.acceptPlans.has(request.plan)) {
    return { decision: "rejected", reason: `plan "${request.plan}" is not offered through the marketplace; accepted: ${[...rules.acceptPlans].join(", ")}` };
  }
  if (request.region !== null && rules?.acceptRegions != null && !rules.acceptRegions.has(request.region)) {
    return { decision: "rejected", reason: `region "${request.region}" is not served; accepted: ${[...rules.acceptRegions].join(", ")}` };
  }
  if (rules?.approval === "manual") return { decision: "awaiting_manual", reason: `policy ${policy.skuId}@${policy.version} leaves approvals to a person (Producer Portal)` };
  return { decision: "approved", reason: `accepted by policy ${policy.skuId}@${policy.version}` };
}

/** The tenant of an entitlement as the reconciliation sees it; undefined when it has no governor. */
export interface ReconciledTenant {
  /** The lifecycle state (`new`, `active`, `suspended`, … or `quarantined`). */
  readonly state: string;
  readonly plan: string | null;
  readonly pendingCancellation: boolean;
  /** A scheduled private offer's start (epoch ms), or null. */
  readonly offerStartsAt: number | null;
}

/** What the API says of the entitlement: its state and plan, or null when it does not know it. */
export interface ApiEntitlement {
  readonly state: string;
  readonly plan: string;
}

export type Correction =
  | "provision"
  | "change_plan"
  | "suspend"
  | "reinstate"
  | "cancel"
  | "mark_pending_cancellation"
  | "clear_pending_cancellation"
  | "decide_approval";

/** States in which the customer has the service (a pending plan change runs on the old plan until it is made). */
const SERVED = new Set([ACTIVE, PENDING_CANCELLATION, PENDING_PLAN_CHANGE, PENDING_PLAN_CHANGE_APPROVAL]);
/** Tenant states with no governor serving. */
const UNSERVED = new Set(["new", "decommissioned"]);

/**
 * The corrections, in order, that bring the tenant to what the API says.
 * None while the tenant is busy with a lifecycle of its own (draining,
 * decommissioning, quarantined, degraded): the next look decides again.
 * A scheduled private offer is not provisioned before it starts.
 * `decide_approval` is returned only when `decideRequests` is set (the
 * sweep heals a request whose event was lost).
 */
export function reconcile(api: ApiEntitlement | null, tenant: ReconciledTenant | undefined, now: number, decideRequests: boolean): Correction[] {
  if (api === null) return [];
  const state = tenant?.state ?? "new";
  if (api.state === ACTIVATION_REQUESTED) return decideRequests && UNSERVED.has(state) ? ["decide_approval"] : [];
  if (SERVED.has(api.state)) {
    const out: Correction[] = [];
    if (UNSERVED.has(state)) {
      if (tenant?.offerStartsAt != null && tenant.offerStartsAt > now) return [];
      out.push("provision");
    } else if (state === "suspended") {
      out.push("reinstate");
    } else if (state !== "active") {
      return [];
    }
    if (!UNSERVED.has(state) && (api.state === ACTIVE || api.state === PENDING_CANCELLATION) && tenant?.plan !== api.plan) out.push("change_plan");
    const pending = tenant?.pendingCancellation ?? false;
    if (api.state === PENDING_CANCELLATION && !pending) out.push("mark_pending_cancellation");
    if (api.state !== PENDING_CANCELLATION && pending) out.push("clear_pending_cancellation");
    if (api.state === PENDING_PLAN_CHANGE_APPROVAL && decideRequests) out.push("decide_approval");
    return out;
  }
  if (api.state === SUSPENDED) return state === "active" || state === "degraded" ? ["suspend"] : [];
  if (api.state === CANCELLED) return state === "active" || state === "suspended" || state === "degraded" ? ["cancel"] : [];
  return [];
}

/** The correction an event type announces: carried out for it, it is no correction of a missed event (no `entitlement_reconciled`). */
export function expectedCorrection(eventType: string): ReadonlySet<Correction> {
  return EXPECTED[eventType] ?? NONE;
}
const NONE: ReadonlySet<Correction> = new Set();
const EXPECTED: Record<string, ReadonlySet<Correction>> = {
  ENTITLEMENT_ACTIVE: new Set(["provision", "reinstate"]),
  ENTITLEMENT_OFFER_ACCEPTED: new Set(["provision"]),
  ENTITLEMENT_PLAN_CHANGED: new Set(["change_plan"]),
  ENTITLEMENT_PENDING_CANCELLATION: new Set(["mark_pending_cancellation"]),
  ENTITLEMENT_CANCELLATION_REVERTED: new Set(["clear_pending_cancellation"]),
  ENTITLEMENT_CANCELLED: new Set(["cancel"]),
  ENTITLEMENT_SUSPENDED: new Set(["suspend"]),
  ENTITLEMENT_REINSTATED: new Set(["reinstate"]),
  offer_start: new Set(["provision"]),
};
