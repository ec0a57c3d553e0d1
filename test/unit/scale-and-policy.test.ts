import { describe, expect, it } from "vitest";
import { costDelta } from "../../governors/deciders/scale.ts";
import type { ReceiptOf } from "../../src/ledger/receipt.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { given, ops, provisionDraft, signal, T0, testPolicyDocument } from "../support/governor-spec.ts";

/** The test policy at another version, changed by `edit`. */
function version(v: string, edit: (doc: PolicyDocument) => void = () => {}) {
  const doc = structuredClone(testPolicyDocument) as PolicyDocument;
  doc.policy_version = v;
  edit(doc);
  return compilePolicy(PolicyDocument.parse(doc));
}

describe("governor: scaling", () => {
  it("applies a scale within the plan's maximum at once, with its cost, and starts what waited", () => {
    const spec = given([provisionDraft({ concurrency: 1 })]);
    spec.when(signal(spec, "s1", "noop"), signal(spec, "s2", "noop"), signal(spec, "s3", "noop"));
    expect(ops(spec)).toEqual(["action_started", "action_queued", "action_queued"]);
    spec.reset().when({ type: "SCALE", concurrency: 3, reason: "operator", now: spec.clock.now() });
    expect(ops(spec)).toEqual(["governor_scaled", "action_started", "action_started"]);
    const scaled = spec.recorded[0] as ReceiptOf<"governor_scaled">;
    expect(scaled).toMatchObject({ previous_concurrency: 1, concurrency: 3, cost_delta_usd: "1.00", reason: "operator", queue_depth: 2 });
    expect(spec.snapshot().context.gov.concurrency).toBe(3);
    expect(spec.snapshot().context.gov.lastScale).toMatchObject({ at: T0, previous: 1, concurrency: 3, queueDepth: 2, reason: "operator" });
  });

  it("records quota_exceeded over the plan's maximum and changes nothing", () => {
    const spec = given([provisionDraft({ concurrency: 2 })]);
    spec.when({ type: "SCALE", concurrency: 5, reason: "lag", now: spec.clock.now() });
    expect(ops(spec)).toEqual(["quota_exceeded"]);
    expect(spec.recorded[0]).toMatchObject({ quota: "max_concurrency", requested: 5, limit: 4, reason: "lag", status: "refused" });
    expect(spec.snapshot().context.gov.concurrency).toBe(2);
  });

  it("writes nothing for a scale to the concurrency it already has, and a scale down has a negative cost", () => {
    const spec = given([provisionDraft({ concurrency: 2 })]);
    spec.when({ type: "SCALE", concurrency: 2, reason: "operator", now: spec.clock.now() });
    expect(spec.recorded).toEqual([]);
    spec.when({ type: "SCALE", concurrency: 1, reason: "revert", now: spec.clock.now() });
    expect(spec.recorded[0]).toMatchObject({ operation: "governor_scaled", cost_delta_usd: "-0.50", reason: "revert" });
  });

  it("multiplies decimal costs exactly", () => {
    expect(costDelta("0.50", 3)).toBe("1.50");
    expect(costDelta("0.123456", 2)).toBe("0.246912");
    expect(costDelta("2.5", -4)).toBe("-10.00");
    expect(costDelta("0.1", 3)).toBe("0.30");
  });
});

describe("governor: safe mode holds the queue", () => {
  it("starts nothing from the queue while held, and everything it can once resumed", () => {
    let held = false;
    const spec = given([provisionDraft({ concurrency: 1 })], { held: () => held });
    spec.when(signal(spec, "s1", "noop"), signal(spec, "s2", "noop"));
    const first = spec.recorded[0] as ReceiptOf<"action_started">;
    held = true;
    spec.reset().when({ type: "HANDLER_SUCCEEDED", actionId: first.action_id, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_complete"]);
    spec.reset().when({ type: "DRAIN_QUEUE", now: spec.clock.now() });
    expect(spec.recorded).toEqual([]);
    held = false;
    spec.when({ type: "DRAIN_QUEUE", now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_started"]);
    expect((spec.recorded[0] as ReceiptOf<"action_started">).signal_id).toBe("s2");
  });
});

describe("governor: policy offers", () => {
  it("adopts a compatible version in one step: the next signal is judged by it alone", () => {
    const next = version("1.1.0", (d) => {
      d.plans["basic"]!.actions.push("forbidden");
    });
    const spec = given([provisionDraft()], { policies: [next] });
    spec.when(signal(spec, "s1", "forbidden"));
    expect(spec.recorded[0]).toMatchObject({ operation: "action_refused", code: "not_permitted" });
    spec.reset().when({ type: "POLICY_OFFERED", policy: next, forced: false, now: spec.clock.now() });
    expect(spec.recorded[0]).toMatchObject({ operation: "policy_upgraded", previous_version: "1.0.0", policy_version: "1.1.0", forced: false });
    expect(spec.snapshot().context.policy?.version).toBe("1.1.0");
    spec.reset().when(signal(spec, "s2", "forbidden"));
    expect(ops(spec)).toEqual(["action_started"]);
  });

  it("keeps its policy and writes policy_rollback when the new one removes an action it has in flight; forced, it adopts", () => {
    const next = version("2.0.0", (d) => {
      delete d.actions["slow"];
      d.plans["basic"]!.actions = ["noop", "fragile"];
    });
    const spec = given([provisionDraft()], { policies: [next] });
    spec.when(signal(spec, "s1", "slow"));
    spec.reset().when({ type: "POLICY_OFFERED", policy: next, forced: false, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["policy_rollback"]);
    expect(spec.recorded[0]).toMatchObject({ policy_version: "1.0.0", attempted_version: "2.0.0" });
    expect(String((spec.recorded[0] as ReceiptOf<"policy_rollback">).reason)).toContain('action "slow" is removed while it has actions in flight');
    expect(spec.snapshot().context.policy?.version).toBe("1.0.0");
    spec.reset().when({ type: "POLICY_OFFERED", policy: next, forced: true, now: spec.clock.now() });
    expect(spec.recorded[0]).toMatchObject({ operation: "policy_upgraded", forced: true, policy_version: "2.0.0" });
  });

  it("holds a lowered quota against this month's use only", () => {
    const next = version("1.2.0", (d) => {
      d.plans["basic"]!.monthly_actions = 1;
    });
    const spec = given([provisionDraft()], { policies: [next] });
    spec.when(signal(spec, "s1", "noop"), signal(spec, "s2", "noop"));
    spec.reset().when({ type: "POLICY_OFFERED", policy: next, forced: false, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["policy_rollback"]);
    expect((spec.recorded[0] as ReceiptOf<"policy_rollback">).reason).toContain("monthly_actions 1 is below the 2 actions already used");
    // A month later the old use no longer counts.
    spec.reset().when({ type: "POLICY_OFFERED", policy: next, forced: false, now: Date.parse("2026-12-02T00:00:00Z") });
    expect(ops(spec)).toEqual(["policy_upgraded"]);
  });

  it("ignores an offer of the version it has, or of another SKU", () => {
    const other = compilePolicy(PolicyDocument.parse({ ...structuredClone(testPolicyDocument), sku_id: "other", policy_version: "9.0.0" }));
    const spec = given([provisionDraft()]);
    spec.when({ type: "POLICY_OFFERED", policy: version("1.0.0"), forced: false, now: spec.clock.now() });
    spec.when({ type: "POLICY_OFFERED", policy: other, forced: false, now: spec.clock.now() });
    expect(spec.recorded).toEqual([]);
  });
});

describe("governor: a tenant-scoped outage", () => {
  const degraded = { operation: "degraded_mode", status: "failure", duration_ms: 0, scope: "tenant", consecutive_failures: 1, reason: "another runtime appended" } as const;
  const cleared = { operation: "degraded_mode_cleared", status: "success", duration_ms: 5, scope: "tenant", downtime_seconds: 0, actions_refused: 2, spooled_receipts: 0 } as const;

  it("refuses signals while degraded and takes them again once cleared", () => {
    const down = given([provisionDraft(), degraded]);
    expect(down.state()).toBe("degraded");
    down.when(signal(down, "s1", "noop"));
    expect(down.recorded).toEqual([]);
    expect(down.effects).toContainEqual({ type: "reply", signalId: "s1", reply: { kind: "unavailable", reason: "degraded" } });
    const up = given([provisionDraft(), degraded, cleared]);
    expect(up.state()).toBe("active");
    up.when(signal(up, "s2", "noop"));
    expect(ops(up)).toEqual(["action_started"]);
  });
});
