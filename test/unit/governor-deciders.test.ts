/**
 * Given/when/then on the deciders that used to live outside the governor:
 * the scaler's tick (with its window in the durable state), the statechart's
 * tables, store safe mode, a tenant's own outage, undeliverable messages and
 * actions that were not run. No timers: a simulated clock.
 */
import { describe, expect, it } from "vitest";
import { countRefusal, decideProbe, decideRecovered, enteredAt, healthyStore } from "../../governors/deciders/safe-mode.ts";
import { replay } from "../../governors/replay.ts";
import { decodeSnapshotState, encodeSnapshotState } from "../../governors/snapshot.ts";
import { takes } from "../../governors/statechart.ts";
import type { ReceiptOf } from "../../src/ledger/receipt.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { given, ops, provisionDraft, signal, T0, testPolicyDocument } from "../support/governor-spec.ts";

/** The shipped deploy-pipeline `team` shape: concurrency 1, maximum 2, a scaling step of 2. */
const teamLike = (() => {
  const doc = structuredClone(testPolicyDocument) as PolicyDocument;
  doc.plans["basic"]!.concurrent_actions = 1;
  doc.plans["basic"]!.max_concurrency = 2;
  doc.plans["basic"]!.monthly_actions = 1000;
  (doc as { scaling?: unknown }).scaling = { queue_depth_threshold: 3, oldest_wait_ms_threshold: 60_000, window_ms: 1_000, step: 2 };
  return compilePolicy(PolicyDocument.parse(doc));
})();

function lagging() {
  const spec = given([provisionDraft({ concurrency: 1 })], { policy: teamLike });
  spec.when(...["a", "b", "c", "d", "e"].map((id) => signal(spec, id, "slow")));
  expect(ops(spec)).toEqual(["action_started", "action_queued", "action_queued", "action_queued", "action_queued"]);
  return spec.reset();
}

describe("scaler tick: lag, the plan's maximum, and the window", () => {
  it("scales up to the maximum when a full step does not fit (1 + 2 > 2: it takes 2), and starts what waited", () => {
    const spec = lagging();
    spec.when({ type: "SCALE_TICK" });
    expect(ops(spec)).toEqual(["governor_scaled", "action_started"]);
    expect(spec.recorded[0]).toMatchObject({ previous_concurrency: 1, concurrency: 2, reason: "lag", queue_depth: 4 });
  });

  it("at the maximum, notes quota_exceeded once a window, and the note survives a rebuild from the ledger", () => {
    const spec = lagging();
    spec.when({ type: "SCALE_TICK" });
    spec.clock.increment(2_500); // past the window and the one after it: no revert to judge
    spec.reset().when({ type: "SCALE_TICK" });
    expect(ops(spec)).toEqual(["quota_exceeded"]);
    expect(spec.recorded[0]).toMatchObject({ quota: "max_concurrency", requested: 4, limit: 2, reason: "lag" });
    spec.clock.increment(500);
    spec.reset().when({ type: "SCALE_TICK" });
    expect(spec.recorded).toEqual([]);
    // Rebuilt from its ledger (a restart): the window is in the state, so nothing is noted again yet.
    const rebuilt = replay(decodeSnapshotState(encodeSnapshotState(spec.snapshot().context.gov), "active"), []);
    expect(rebuilt.quotaNotedAt).toBe(spec.snapshot().context.gov.quotaNotedAt);
    const fromLedger = replay(decodeSnapshotState(encodeSnapshotState(given([]).snapshot().context.gov)), spec.ledger);
    expect(fromLedger.quotaNotedAt).toBe(T0 + 2_500);
    spec.clock.increment(600);
    spec.when({ type: "SCALE_TICK" });
    expect(ops(spec)).toEqual(["quota_exceeded"]);
  });

  it("reverts a lag scale-up in the window after its own when the queue did not fall, and not inside its own window", () => {
    const spec = lagging();
    spec.when({ type: "SCALE_TICK" });
    spec.when(...["f", "g", "h"].map((id) => signal(spec, id, "slow")));
    spec.reset().when({ type: "SCALE_TICK" });
    expect(spec.recorded).toEqual([]);
    spec.clock.increment(1_000);
    spec.when({ type: "SCALE_TICK" });
    expect(ops(spec)).toEqual(["governor_scaled"]);
    expect(spec.recorded[0]).toMatchObject({ previous_concurrency: 2, concurrency: 1, reason: "revert" });
  });

  it("decides nothing for a governor that is not active", () => {
    const spec = given([provisionDraft({ concurrency: 1 }), { operation: "entitlement_suspended", status: "success", duration_ms: 0, event_id: "e", entitlement_id: "ent-1" }], { policy: teamLike });
    spec.when({ type: "SCALE_TICK" });
    expect(spec.recorded).toEqual([]);
  });
});

describe("statechart: which state takes which command", () => {
  it("takes signals only when active, a cancel when active, suspended or degraded, a provision only when new or decommissioned", () => {
    expect(takes("active", "SIGNAL")).toBe(true);
    for (const p of ["new", "suspended", "degraded", "draining", "decommissioning", "decommissioned"] as const) expect(takes(p, "SIGNAL")).toBe(false);
    expect(["active", "suspended", "degraded"].every((p) => takes(p as "active", "CANCEL"))).toBe(true);
    expect(takes("draining", "CANCEL")).toBe(false);
    expect(takes("new", "PROVISION") && takes("decommissioned", "PROVISION")).toBe(true);
    expect(takes("active", "PROVISION")).toBe(false);
    expect(takes("decommissioning", "ARCHIVED")).toBe(true);
    expect(takes("active", "ARCHIVED")).toBe(false);
  });

  it("answers a signal in each state that takes none with why", () => {
    const spec = given([]);
    spec.when(signal(spec, "s1", "noop"));
    expect(spec.effects).toEqual([{ type: "reply", signalId: "s1", reply: { kind: "unavailable", reason: "not_provisioned" } }]);
  });
});

describe("store safe mode", () => {
  it("enters after N failed probes in a row, counts refusals, and clears once the spool is drained", () => {
    let h = healthyStore;
    const first = decideProbe(h, { ok: false, error: "deadline" }, 3);
    expect(first.next).toBeNull();
    h = decideProbe(first.health, { ok: false, error: "deadline" }, 3).health;
    const third = decideProbe(h, { ok: false, error: "unavailable" }, 3);
    expect(third.next).toBe("enter");
    expect(third.drafts).toEqual([expect.objectContaining({ operation: "degraded_mode", scope: "store", consecutive_failures: 3 })]);
    expect(third.effects).toEqual([expect.objectContaining({ type: "alert", code: "safe_mode" })]);
    h = countRefusal(countRefusal(enteredAt(third.health, T0)));
    expect(decideProbe(h, { ok: false, error: "still down" }, 3).next).toBeNull();
    const ok = decideProbe(h, { ok: true }, 3);
    expect(ok.next).toBe("recover");
    const cleared = decideRecovered(ok.health, 7, T0 + 65_000);
    expect(cleared.draft).toMatchObject({ operation: "degraded_mode_cleared", scope: "store", downtime_seconds: 65, actions_refused: 2, spooled_receipts: 7 });
    expect(cleared.health.degradedAt).toBeNull();
  });

  it("does not count refusals while the store is healthy", () => {
    expect(countRefusal(healthyStore)).toBe(healthyStore);
  });
});

describe("a tenant's own outage, undeliverable messages, actions not run", () => {
  it("records degraded_mode and degraded_mode_cleared (tenant scope) once an active governor is back", () => {
    const spec = given([provisionDraft()]);
    spec.when({ type: "OUTAGE_RECOVERED", since: T0, refused: 3, cause: "seq conflict", now: T0 + 4_000 });
    expect(ops(spec)).toEqual(["degraded_mode", "degraded_mode_cleared"]);
    expect(spec.recorded[1]).toMatchObject({ scope: "tenant", downtime_seconds: 4, actions_refused: 3 });
    expect(spec.state()).toBe("active");
  });

  it("refuses an undeliverable message on the tenant's ledger under an id of the signal id alphabet", () => {
    const spec = given([provisionDraft()]);
    spec.when({ type: "UNDELIVERABLE", messageId: "m/1 2", reason: "not JSON" });
    expect(ops(spec)).toEqual(["action_refused"]);
    expect(spec.recorded[0]).toMatchObject({ signal_id: "message-m_1_2", code: "invalid_params" });
  });

  it("fails an action whose handler was not run because safe mode began, without escalating it", () => {
    const spec = given([provisionDraft()]);
    spec.when(signal(spec, "s1", "noop"));
    const actionId = (spec.recorded[0] as ReceiptOf<"action_started">).action_id;
    spec.reset().when({ type: "HANDLER_NOT_RUN", actionId });
    expect(ops(spec)).toEqual(["action_failed"]);
    expect(spec.recorded[0]).toMatchObject({ code: "safe_mode", recoverable: false });
    expect(spec.effects.filter((e) => e.type === "alert")).toEqual([]);
  });
});
