/**
 * Google Cloud Marketplace in the governor's core: how a policy decides an
 * entitlement request, how the reconciliation brings a governor to the
 * Procurement API's state, and the receipts that suspend, reinstate, mark a
 * pending cancellation and schedule a private offer (replayed and
 * snapshotted like every other).
 */
import { describe, expect, it } from "vitest";
import { decideApproval, expectedCorrection, reconcile, type ReconciledTenant } from "../../governors/deciders/marketplace.ts";
import { decodeSnapshotState, encodeSnapshotState } from "../../governors/snapshot.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { statusOf } from "../../src/app/status.ts";
import { given, ops, provisionDraft, signal, T0, testPolicy, testPolicyDocument } from "../support/governor-spec.ts";

const withRules = (marketplace: Record<string, unknown>) =>
  compilePolicy(PolicyDocument.parse({ ...testPolicyDocument, plans: { ...testPolicyDocument.plans, pro: testPolicyDocument.plans["basic"] }, marketplace }));

describe("a policy decides an entitlement request", () => {
  it("approves a plan the policy has, when nothing restricts it", () => {
    expect(decideApproval(testPolicy, { skuId: "demo", plan: "basic", region: null }).decision).toBe("approved");
  });

  it("rejects an unknown product, an unknown plan, a plan or a region it does not accept, saying which", () => {
    expect(decideApproval(undefined, { skuId: "nope", plan: "basic", region: null })).toMatchObject({ decision: "rejected", reason: expect.stringContaining('"nope"') });
    expect(decideApproval(testPolicy, { skuId: "demo", plan: "gold", region: null })).toMatchObject({ decision: "rejected", reason: expect.stringContaining("its plans: basic") });
    const rules = withRules({ approval: "auto", accept_plans: ["basic"], accept_regions: ["europe-west1"] });
    expect(decideApproval(rules, { skuId: "demo", plan: "pro", region: null })).toMatchObject({ decision: "rejected", reason: expect.stringContaining("accepted: basic") });
    expect(decideApproval(rules, { skuId: "demo", plan: "basic", region: "us-east1" })).toMatchObject({ decision: "rejected", reason: expect.stringContaining("europe-west1") });
    expect(decideApproval(rules, { skuId: "demo", plan: "basic", region: "europe-west1" }).decision).toBe("approved");
  });

  it("leaves an acceptable request to a person when the policy says manual, and still rejects what it cannot serve", () => {
    const manual = withRules({ approval: "manual" });
    expect(decideApproval(manual, { skuId: "demo", plan: "basic", region: null }).decision).toBe("awaiting_manual");
    expect(decideApproval(manual, { skuId: "demo", plan: "gold", region: null }).decision).toBe("rejected");
  });

  it("refuses a policy whose accept_plans names a plan it does not define", () => {
    const parsed = PolicyDocument.safeParse({ ...testPolicyDocument, marketplace: { accept_plans: ["gold"] } });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain("marketplace.accept_plans names plan");
  });
});

describe("the reconciliation", () => {
  const t = (state: string, more: Partial<ReconciledTenant> = {}): ReconciledTenant => ({ state, plan: "basic", pendingCancellation: false, offerStartsAt: null, ...more });
  const api = (state: string, plan = "basic") => ({ state: `ENTITLEMENT_${state}`, plan });

  it("provisions an active entitlement with no governor, reinstates a suspended one, and changes a plan that differs", () => {
    expect(reconcile(api("ACTIVE"), undefined, T0, false)).toEqual(["provision"]);
    expect(reconcile(api("ACTIVE"), t("decommissioned"), T0, false)).toEqual(["provision"]);
    expect(reconcile(api("ACTIVE", "pro"), t("suspended"), T0, false)).toEqual(["reinstate", "change_plan"]);
    expect(reconcile(api("ACTIVE", "pro"), t("active"), T0, false)).toEqual(["change_plan"]);
    expect(reconcile(api("ACTIVE"), t("active"), T0, false)).toEqual([]);
  });

  it("marks and clears a pending cancellation, suspends, and cancels", () => {
    expect(reconcile(api("PENDING_CANCELLATION"), t("active"), T0, false)).toEqual(["mark_pending_cancellation"]);
    expect(reconcile(api("ACTIVE"), t("active", { pendingCancellation: true }), T0, false)).toEqual(["clear_pending_cancellation"]);
    expect(reconcile(api("SUSPENDED"), t("active"), T0, false)).toEqual(["suspend"]);
    expect(reconcile(api("SUSPENDED"), t("suspended"), T0, false)).toEqual([]);
    expect(reconcile(api("CANCELLED"), t("suspended"), T0, false)).toEqual(["cancel"]);
    expect(reconcile(api("CANCELLED"), t("decommissioned"), T0, false)).toEqual([]);
  });

  it("waits for a scheduled private offer's start, and leaves a tenant busy with its own lifecycle alone", () => {
    expect(reconcile(api("ACTIVE"), t("new", { offerStartsAt: T0 + 1 }), T0, false)).toEqual([]);
    expect(reconcile(api("ACTIVE"), t("new", { offerStartsAt: T0 }), T0, false)).toEqual(["provision"]);
    for (const busy of ["draining", "decommissioning", "quarantined", "degraded"]) expect(reconcile(api("ACTIVE", "pro"), t(busy), T0, false)).toEqual([]);
  });

  it("decides a request whose event was lost only when asked (the sweep)", () => {
    expect(reconcile(api("ACTIVATION_REQUESTED"), undefined, T0, false)).toEqual([]);
    expect(reconcile(api("ACTIVATION_REQUESTED"), undefined, T0, true)).toEqual(["decide_approval"]);
    expect(reconcile(api("PENDING_PLAN_CHANGE_APPROVAL"), t("active"), T0, true)).toEqual(["decide_approval"]);
    expect(reconcile(null, t("active"), T0, true)).toEqual([]);
  });

  it("knows which correction each event announces (the rest are corrections of a missed event)", () => {
    expect([...expectedCorrection("ENTITLEMENT_PLAN_CHANGED")]).toEqual(["change_plan"]);
    expect(expectedCorrection("sweep").size).toBe(0);
    expect(expectedCorrection("ENTITLEMENT_OFFER_ENDED").size).toBe(0);
  });
});

describe("suspension, pending cancellation and scheduled offers in the governor", () => {
  const googleProvision = () => ({ ...provisionDraft(), procurement_account_id: "acct-g", usage_reporting_id: "project_number:42" });

  it("suspends an active governor (signals refused as suspended) and reinstates it, naming the procurement account", () => {
    const spec = given([googleProvision()]);
    spec.when({ type: "SUSPEND", eventId: "e2", entitlementId: "ent-1", reason: "the marketplace suspended the entitlement" });
    expect(ops(spec)).toEqual(["entitlement_suspended"]);
    expect(spec.recorded[0]).toMatchObject({ procurement_account_id: "acct-g", reason: "the marketplace suspended the entitlement" });
    expect(spec.state()).toBe("suspended");
    spec.reset().when(signal(spec, "s1", "noop"));
    expect(spec.effects).toEqual([{ type: "reply", signalId: "s1", reply: { kind: "unavailable", reason: "suspended" } }]);
    spec.reset().when({ type: "SUSPEND", eventId: "e3", entitlementId: "ent-1" });
    expect(spec.recorded).toEqual([]);
    spec.when({ type: "REINSTATE", eventId: "e4", entitlementId: "ent-1" });
    expect(ops(spec)).toEqual(["entitlement_reinstated"]);
    expect(spec.state()).toBe("active");
  });

  it("keeps the pending cancellation, the procurement account and a scheduled offer through a snapshot, and shows them in the status", () => {
    const spec = given([
      {
        operation: "entitlement_offer_scheduled",
        status: "pending",
        duration_ms: 0,
        event_id: "offer-1",
        entitlement_id: "ent-2",
        procurement_account_id: "acct-g",
        sku_id: "demo",
        plan: "basic",
        starts_at: new Date(T0 + 86_400_000).toISOString(),
      },
    ]);
    const gov = spec.snapshot().context.gov;
    expect(statusOf(gov, T0, 1)).toMatchObject({ state: "new", procurement_account_id: "acct-g", scheduled_offer: { event_id: "offer-1", starts_at: "2026-11-25T10:00:00.000Z" } });
    const active = given([googleProvision(), { operation: "entitlement_cancellation_pending", status: "success", duration_ms: 0, event_id: "e5", entitlement_id: "ent-1" }]);
    const state = active.snapshot().context.gov;
    expect(statusOf(state, T0, 2).pending_cancellation).toBe(true);
    const back = decodeSnapshotState(JSON.parse(JSON.stringify(encodeSnapshotState(state))) as ReturnType<typeof encodeSnapshotState>, "active");
    expect(back.marketplace).toEqual({ procurementAccountId: "acct-g", pendingCancellation: true, offer: null });
    const reverted = given([googleProvision(), { operation: "entitlement_cancellation_pending", status: "success", duration_ms: 0, event_id: "e5", entitlement_id: "ent-1" }, { operation: "entitlement_cancellation_reverted", status: "success", duration_ms: 0, event_id: "e6", entitlement_id: "ent-1" }]);
    expect(statusOf(reverted.snapshot().context.gov, T0, 3).pending_cancellation).toBeUndefined();
  });
});
