/**
 * The lifecycle decisions of the marketplace workflows (runbooks 1 and 6):
 * whether a provision or a plan change may run against the tenant as it is,
 * and, when a provisioning step fails, the `entitlement_failed` receipt, the
 * alert and the answer. Pure functions of plain values; the marketplace
 * service reads the tenant, runs the steps and writes what is decided here.
 */
import type { DraftOf } from "../../src/ledger/receipt.ts";
import type { PolicyView } from "../policy-view.ts";

/**
 * The steps of a provision, in the order they run, named as they appear in
 * an `entitlement_failed` receipt's `step`. Nothing is created before the
 * policy is known and the tenant's ledger opens, so a failure of either
 * leaves nothing to remove.
 */
export const ProvisionStep = {
  loadPolicy: "load_policy",
  initStore: "init_store",
  createChannel: "create_channel",
  bootGovernor: "boot_governor",
} as const;
export type ProvisionStep = (typeof ProvisionStep)[keyof typeof ProvisionStep];

/** What the lifecycle decisions need of a tenant: undefined when it has no governor here. */
export interface TenantLifecycle {
  /** The lifecycle state (`new`, `active`, `draining`, … or `quarantined`). */
  readonly state: string;
  readonly skuId: string | null;
  readonly plan: string | null;
  readonly policyVersion: string | null;
  readonly entitlementId: string | null;
}

/** The entitlement an event is about, as the marketplace sent it. */
export interface EntitlementRequest {
  readonly eventId: string;
  readonly entitlementId: string;
  readonly accountId: string;
  readonly skuId: string;
  readonly plan: string;
}

/** An answer for the marketplace: a success body, or an error with a stable code. */
export type LifecycleAnswer =
  | { readonly status: 200 | 201; readonly body: Record<string, unknown> }
  | { readonly status: 404 | 409 | 422 | 500 | 503; readonly code: string; readonly message: string };

/** A provisioning step that failed, and why. */
export interface ProvisionFailure {
  readonly step: ProvisionStep;
  /** The receipt's `code`, a literal (e.g. `unknown_plan`). */
  readonly code: string;
  readonly reason: string;
}

/** What to do with a provision. */
export type ProvisionDecision =
  | { readonly kind: "answer"; readonly answer: LifecycleAnswer }
  | { readonly kind: "fail"; readonly failure: ProvisionFailure }
  | { readonly kind: "provision"; readonly policyVersion: string; readonly concurrency: number };

/** What to do with a plan change. */
export type PlanChangeDecision =
  | { readonly kind: "answer"; readonly answer: LifecycleAnswer }
  | { readonly kind: "change"; readonly skuId: string; readonly policyVersion: string; readonly concurrency: number };

/**
 * Decides a provision: already active with this entitlement → 200 (nothing
 * done again); busy with a lifecycle of its own → 409; the SKU or plan has
 * no policy → a `load_policy` failure; else provision at the SKU's current
 * policy with the plan's concurrency.
 */
export function decideProvision(tenant: TenantLifecycle | undefined, request: EntitlementRequest, policy: PolicyView | undefined, knownSkus: readonly string[]): ProvisionDecision {
  const account = request.accountId;
  if (tenant !== undefined && tenant.state === "active" && tenant.entitlementId === request.entitlementId) {
    return { kind: "answer", answer: { status: 200, body: { account_id: account, state: "active", already: true, policy_version: tenant.policyVersion } } };
  }
  if (tenant !== undefined && tenant.state !== "new" && tenant.state !== "decommissioned") {
    return { kind: "answer", answer: { status: 409, code: "MARKETPLACE_TENANT_BUSY", message: `tenant ${account} is ${tenant.state}; provision it again once that is over` } };
  }
  if (policy === undefined) {
    return fail(ProvisionStep.loadPolicy, "unknown_sku", `no policy for SKU "${request.skuId}"; known SKUs: ${knownSkus.join(", ") || "none"}`);
  }
  const plan = policy.plans.get(request.plan);
  if (plan === undefined) {
    return fail(ProvisionStep.loadPolicy, "unknown_plan", `SKU "${request.skuId}" has no plan "${request.plan}"; its plans: ${[...policy.plans.keys()].join(", ")}`);
  }
  return { kind: "provision", policyVersion: policy.version, concurrency: plan.concurrentActions };
}

/**
 * Decides a plan change: no tenant → 404; not active → 409; already on
 * that plan → 200 (a redelivery, even after a restart, changes nothing);
 * no such plan in its SKU's policy → 422; else change to the SKU's current
 * policy with the plan's concurrency.
 */
export function decidePlanChange(tenant: TenantLifecycle | undefined, accountId: string, plan: string, policy: PolicyView | undefined): PlanChangeDecision {
  if (tenant === undefined || tenant.state === "new") return answer({ status: 404, code: "TENANT_UNKNOWN", message: `no tenant "${accountId}" is provisioned` });
  if (tenant.state !== "active") return answer({ status: 409, code: "MARKETPLACE_TENANT_BUSY", message: `tenant ${accountId} is ${tenant.state}` });
  const sku = tenant.skuId ?? "";
  if (tenant.plan === plan) return answer({ status: 200, body: { account_id: accountId, plan, policy_version: tenant.policyVersion, already: true } });
  const planView = policy?.plans.get(plan);
  if (policy === undefined || planView === undefined) return answer({ status: 422, code: "MARKETPLACE_UNKNOWN_PLAN", message: `SKU "${sku}" has no plan "${plan}"` });
  return { kind: "change", skuId: sku, policyVersion: policy.version, concurrency: planView.concurrentActions };
}

/** The `entitlement_failed` receipt of a failed step: everything the step created is removed before it is written. */
export function draftEntitlementFailed(request: EntitlementRequest, failure: ProvisionFailure, durationMs: number): DraftOf<"entitlement_failed"> {
  return {
    operation: "entitlement_failed",
    status: "failure",
    duration_ms: Math.max(0, Math.round(durationMs)),
    event_id: request.eventId,
    entitlement_id: request.entitlementId,
    sku_id: request.skuId,
    plan: request.plan,
    step: failure.step,
    code: failure.code,
    reason: failure.reason.slice(0, 1024),
  };
}

/** The alert a failed provision raises: the runbooks ask a human to look at every one. */
export function entitlementFailedAlert(request: EntitlementRequest, failure: ProvisionFailure): { code: "entitlement_failed"; message: string; ledger: string; details: Record<string, unknown> } {
  return {
    code: "entitlement_failed",
    message: `provisioning ${request.accountId} failed at ${failure.step}: ${failure.reason}`.slice(0, 1024),
    ledger: request.accountId,
    details: { step: failure.step, failure_code: failure.code, event_id: request.eventId, entitlement_id: request.entitlementId, sku_id: request.skuId, plan: request.plan },
  };
}

/**
 * The answer to a failed provision. The marketplace's input is at fault
 * when the policy cannot be loaded or the channel refused it (422, final);
 * a store that cannot be opened is unavailable for now (503, sent again
 * later); a governor that cannot boot is this service's fault (500, sent
 * again later).
 */
export function failureAnswer(failure: ProvisionFailure): LifecycleAnswer {
  const code = `MARKETPLACE_${failure.code.toUpperCase()}`;
  switch (failure.step) {
    case ProvisionStep.initStore:
      return { status: 503, code, message: `${failure.reason}; nothing was created: deliver the event again later` };
    case ProvisionStep.bootGovernor:
      return { status: 500, code, message: `${failure.reason}; everything created was removed: deliver the event again later` };
    default:
      return { status: 422, code, message: failure.reason };
  }
}

function fail(step: ProvisionStep, code: string, reason: string): ProvisionDecision {
  return { kind: "fail", failure: { step, code, reason } };
}

function answer(a: LifecycleAnswer): PlanChangeDecision {
  return { kind: "answer", answer: a };
}
