/**
 * The marketplace's lifecycle decisions (governors/deciders/provisioning.ts),
 * as given (the tenant, the policy) / when (an event) / then (the answer, or
 * the failure and its receipt). Pure: no runtime, no clock.
 */
import { describe, expect, it } from "vitest";
import {
  decidePlanChange,
  decideProvision,
  draftEntitlementFailed,
  entitlementFailedAlert,
  failureAnswer,
  ProvisionStep,
  type EntitlementRequest,
  type TenantLifecycle,
} from "../../governors/deciders/provisioning.ts";
import type { PlanView, PolicyView } from "../../governors/policy-view.ts";

const plan = (name: string, concurrentActions: number): PlanView => ({
  name,
  monthlyActions: 100,
  concurrentActions,
  maxConcurrency: concurrentActions * 2,
  costPerSlotUsd: "1.00",
  permits: new Set(["noop"]),
});
const policy: PolicyView = {
  skuId: "demo",
  version: "1.2.0",
  plans: new Map([
    ["starter", plan("starter", 1)],
    ["pro", plan("pro", 4)],
  ]),
  actions: new Map(),
  scaling: { queueDepthThreshold: 10, oldestWaitMsThreshold: 1000, windowMs: 60_000, step: 1 },
};
const request: EntitlementRequest = { eventId: "evt-1", entitlementId: "ent-1", accountId: "acme", skuId: "demo", plan: "starter" };
const tenant = (state: string, o: Partial<TenantLifecycle> = {}): TenantLifecycle => ({ state, skuId: "demo", plan: "starter", policyVersion: "1.1.0", entitlementId: "ent-1", ...o });

describe("decideProvision", () => {
  it("given no tenant, when provisioned: provision at the SKU's current version with the plan's concurrency", () => {
    expect(decideProvision(undefined, request, policy, ["demo"])).toEqual({ kind: "provision", policyVersion: "1.2.0", concurrency: 1 });
  });

  it("given a decommissioned tenant (or a new one), it is provisioned again", () => {
    expect(decideProvision(tenant("decommissioned"), request, policy, ["demo"]).kind).toBe("provision");
    expect(decideProvision(tenant("new", { entitlementId: null }), request, policy, ["demo"]).kind).toBe("provision");
  });

  it("given the tenant active with this entitlement: 200 already, nothing done again", () => {
    expect(decideProvision(tenant("active"), request, policy, ["demo"])).toEqual({
      kind: "answer",
      answer: { status: 200, body: { account_id: "acme", state: "active", already: true, policy_version: "1.1.0" } },
    });
  });

  it("given the tenant busy (draining, or active under another entitlement): 409", () => {
    for (const t of [tenant("draining"), tenant("active", { entitlementId: "ent-0" }), tenant("quarantined")]) {
      const d = decideProvision(t, request, policy, ["demo"]);
      expect(d).toMatchObject({ kind: "answer", answer: { status: 409, code: "MARKETPLACE_TENANT_BUSY" } });
    }
  });

  it("given no policy for the SKU, or no such plan: a load_policy failure naming what is known", () => {
    expect(decideProvision(undefined, { ...request, skuId: "nope" }, undefined, ["demo"])).toEqual({
      kind: "fail",
      failure: { step: "load_policy", code: "unknown_sku", reason: 'no policy for SKU "nope"; known SKUs: demo' },
    });
    expect(decideProvision(undefined, { ...request, plan: "gold" }, policy, ["demo"])).toEqual({
      kind: "fail",
      failure: { step: "load_policy", code: "unknown_plan", reason: 'SKU "demo" has no plan "gold"; its plans: starter, pro' },
    });
  });
});

describe("decidePlanChange", () => {
  it("given an active tenant, when its plan changes: the new plan's concurrency at the SKU's current version", () => {
    expect(decidePlanChange(tenant("active"), "acme", "pro", policy)).toEqual({ kind: "change", skuId: "demo", policyVersion: "1.2.0", concurrency: 4 });
  });

  it("no tenant → 404; not active → 409; the same plan → 200 already; no such plan → 422", () => {
    expect(decidePlanChange(undefined, "acme", "pro", policy)).toMatchObject({ answer: { status: 404, code: "TENANT_UNKNOWN" } });
    expect(decidePlanChange(tenant("new"), "acme", "pro", policy)).toMatchObject({ answer: { status: 404 } });
    expect(decidePlanChange(tenant("suspended"), "acme", "pro", policy)).toMatchObject({ answer: { status: 409, code: "MARKETPLACE_TENANT_BUSY" } });
    expect(decidePlanChange(tenant("active"), "acme", "starter", policy)).toMatchObject({ answer: { status: 200, body: { already: true, plan: "starter" } } });
    expect(decidePlanChange(tenant("active"), "acme", "gold", policy)).toMatchObject({ answer: { status: 422, code: "MARKETPLACE_UNKNOWN_PLAN" } });
  });
});

describe("a failed step", () => {
  const failure = { step: ProvisionStep.bootGovernor, code: "boot_failed", reason: "the governor could not boot: x" };

  it("drafts entitlement_failed with the step, the code and the event's entitlement", () => {
    expect(draftEntitlementFailed(request, failure, 12.6)).toEqual({
      operation: "entitlement_failed",
      status: "failure",
      duration_ms: 13,
      event_id: "evt-1",
      entitlement_id: "ent-1",
      sku_id: "demo",
      plan: "starter",
      step: "boot_governor",
      code: "boot_failed",
      reason: "the governor could not boot: x",
    });
  });

  it("raises an entitlement_failed alert on the tenant's ledger, naming the step", () => {
    expect(entitlementFailedAlert(request, failure)).toMatchObject({ code: "entitlement_failed", ledger: "acme", details: { step: "boot_governor", failure_code: "boot_failed" } });
  });

  it("answers 422 for the marketplace's input, 503 for the store, 500 for the governor: each with a stable code", () => {
    expect(failureAnswer({ step: "load_policy", code: "unknown_plan", reason: "r" })).toMatchObject({ status: 422, code: "MARKETPLACE_UNKNOWN_PLAN" });
    expect(failureAnswer({ step: "create_channel", code: "channel_failed", reason: "r" })).toMatchObject({ status: 422, code: "MARKETPLACE_CHANNEL_FAILED" });
    expect(failureAnswer({ step: "init_store", code: "store_failed", reason: "r" })).toMatchObject({ status: 503, code: "MARKETPLACE_STORE_FAILED" });
    expect(failureAnswer(failure)).toMatchObject({ status: 500, code: "MARKETPLACE_BOOT_FAILED" });
  });
});
