import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/ledger/canonical.ts";
import { checkCompatibility, compareVersions, diffPolicies, type TenantPolicyFacts } from "../../src/policy/compat.ts";
import { validatePolicy } from "../../src/policy/rollout.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { testPolicyDocument } from "../support/governor-spec.ts";

function edit(v: string, change: (d: PolicyDocument) => void = () => {}): PolicyDocument {
  const d = structuredClone(testPolicyDocument) as PolicyDocument;
  d.policy_version = v;
  change(d);
  return PolicyDocument.parse(d);
}
const tenant = (account: string, o: Partial<TenantPolicyFacts> = {}): TenantPolicyFacts => ({ account, plan: "basic", usedThisMonth: 0, inFlight: [], ...o });
const check = (next: PolicyDocument, tenants: TenantPolicyFacts[], existing?: PolicyDocument) =>
  checkCompatibility({ current: testPolicyDocument, next, nextCanonical: canonicalJson(next), existingCanonical: existing && canonicalJson(existing), tenants });

describe("policy compatibility", () => {
  it("accepts a higher version that strands nothing", () => {
    expect(check(edit("1.1.0", (d) => void (d.plans["basic"]!.monthly_actions = 50)), [tenant("a", { usedThisMonth: 5 })])).toEqual([]);
  });

  it("refuses removing a plan tenants are on, naming them", () => {
    const next = edit("2.0.0", (d) => {
      d.plans = { pro: { ...d.plans["basic"]! } };
    });
    const reasons = check(next, [tenant("a"), tenant("b")]);
    expect(reasons).toEqual(['plan "basic" is removed while 2 tenants are on it (a, b)']);
  });

  it("refuses removing an action with actions in flight, but not one that is idle", () => {
    const next = edit("2.0.0", (d) => {
      delete d.actions["slow"];
      delete d.actions["fragile"];
      d.plans["basic"]!.actions = ["noop"];
    });
    expect(check(next, [tenant("a", { inFlight: ["slow", "slow"] }), tenant("b")])).toEqual(['action "slow" is removed while 1 tenant has it in flight (a)']);
  });

  it("refuses a quota below what tenants used this month", () => {
    const reasons = check(edit("1.1.0", (d) => void (d.plans["basic"]!.monthly_actions = 3)), [tenant("a", { usedThisMonth: 4 }), tenant("b", { usedThisMonth: 2 })]);
    expect(reasons).toEqual(['plan "basic": monthly_actions 3 is below what 1 tenant already used this month (up to 4: a)']);
  });

  it("refuses a lower version, and a reused version with different content", () => {
    expect(check(edit("0.9.0"), [])).toEqual(["policy_version 0.9.0 is lower than the current 1.0.0"]);
    const reused = edit("1.0.0", (d) => void (d.plans["basic"]!.monthly_actions = 6));
    expect(check(reused, [], testPolicyDocument)[0]).toMatch(/policy_version 1.0.0 already exists for demo with different content/);
  });

  it("names at most five tenants", () => {
    const next = edit("2.0.0", (d) => void (d.plans = { pro: { ...d.plans["basic"]! } }));
    const many = Array.from({ length: 8 }, (_, i) => tenant(`t${i}`));
    expect(check(next, many)[0]).toBe('plan "basic" is removed while 8 tenants are on it (t0, t1, t2, t3, t4 and 3 more)');
  });

  it("orders versions numerically", () => {
    expect(compareVersions("1.10.0", "1.9.9")).toBe(1);
    expect(compareVersions("1.0.0", "1.0.0")).toBe(0);
    expect(compareVersions("0.9.12", "1.0.0")).toBe(-1);
  });
});

describe("policy diff", () => {
  it("lists what changed per plan and action and counts the tenants it touches", () => {
    const next = edit("1.1.0", (d) => {
      d.plans["basic"]!.concurrent_actions = 3;
      d.plans["pro"] = { ...d.plans["basic"]!, max_concurrency: 8 };
      d.actions["slow"]!.timeout_ms = 900;
    });
    const diff = diffPolicies(testPolicyDocument, next, [tenant("a"), tenant("b"), tenant("c", { plan: null })]);
    expect(diff.plans.added).toEqual(["pro"]);
    expect(diff.plans.changed["basic"]).toEqual([{ path: "concurrent_actions", before: 2, after: 3 }]);
    expect(diff.actions.changed["slow"]).toEqual([{ path: "timeout_ms", before: 500, after: 900 }]);
    expect(diff).toMatchObject({ from_version: "1.0.0", to_version: "1.1.0", new_sku: false, tenants_by_plan: { basic: 2 }, tenants_affected: 2, tenants_total: 3 });
  });

  it("says a SKU is new", () => {
    const diff = diffPolicies(undefined, testPolicyDocument, []);
    expect(diff).toMatchObject({ new_sku: true, from_version: null, tenants_total: 0 });
    expect(diff.plans.added).toEqual(["basic"]);
  });
});

describe("policy validation", () => {
  it("names every schema error with its path", () => {
    const result = validatePolicy({ sku_id: "Bad SKU", policy_version: "1", actions: {}, plans: { p: { monthly_actions: -1 } } }, ["noop"]);
    expect(result.ok).toBe(false);
    const paths = result.ok ? [] : result.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["sku_id", "policy_version", "plans.p.monthly_actions", "plans.p.concurrent_actions"]));
  });

  it("refuses a handler this runtime does not have, and a plan permitting an undefined action", () => {
    const doc = structuredClone(testPolicyDocument) as Record<string, any>;
    doc["actions"]["noop"]["handler"] = "teleport";
    const r1 = validatePolicy(doc, ["noop", "http"]);
    expect(r1.ok ? [] : r1.issues).toEqual([{ path: "actions.noop.handler", message: 'handler "teleport" does not exist here (known: http, noop)' }]);
    const doc2 = structuredClone(testPolicyDocument) as Record<string, any>;
    doc2["plans"]["basic"]["actions"].push("ghost");
    const r2 = validatePolicy(doc2, ["noop"]);
    expect(r2.ok ? [] : r2.issues.map((i) => i.path)).toEqual(["plans.basic.actions.3"]);
  });
});
