import { describe, expect, it } from "vitest";
import type { Effect } from "../../governors/decision.ts";
import { decide } from "../../governors/governor.ts";
import { resolveStatePolicy } from "../../governors/state.ts";
import type { ReceiptDraft, ReceiptOf } from "../../src/ledger/receipt.ts";
import { given, ops, provisionDraft, signal, T0, type Spec } from "../support/governor-spec.ts";

const started = (spec: Spec, i = 0) => spec.recorded.filter((r) => r.operation === "action_started")[i] as ReceiptOf<"action_started">;
const effectsOf = <T extends Effect["type"]>(spec: Spec, type: T) => spec.effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);
const replies = (spec: Spec) => effectsOf(spec, "reply").map((e) => e.reply);

describe("tenant governor: provisioning", () => {
  it("given nothing, when provisioned, then entitlement_active and the governor is active", () => {
    const spec = given([]).when({
      type: "PROVISION",
      eventId: "evt-1",
      entitlementId: "ent-1",
      skuId: "demo",
      plan: "basic",
      policyVersion: "1.0.0",
      concurrency: 2,
      channel: "tenants.acct-1.signals",
      durationMs: 4,
    });
    expect(ops(spec)).toEqual(["entitlement_active"]);
    expect(spec.state()).toBe("active");
    expect(spec.snapshot().context.gov.concurrency).toBe(2);
  });

  it("refuses signals before provisioning without writing anything", () => {
    const spec = given([]);
    spec.when(signal(spec, "s1", "noop"));
    expect(spec.recorded).toEqual([]);
    expect(replies(spec)).toEqual([{ kind: "unavailable", reason: "not_provisioned" }]);
  });
});

describe("tenant governor: signals", () => {
  it("starts a permitted action with its deadline in the receipt, then runs the handler", () => {
    const spec = given([provisionDraft()]);
    spec.when(signal(spec, "s1", "noop", { n: 1 }));
    expect(ops(spec)).toEqual(["action_started"]);
    const r = started(spec);
    expect(r.signal_id).toBe("s1");
    expect(r.deadline).toBe(new Date(T0 + 500).toISOString());
    expect(r.timeout_ms).toBe(500);
    expect(spec.effects.map((e) => e.type)).toEqual(["armDeadline", "runHandler", "reply"]);
    expect(replies(spec)[0]).toMatchObject({ kind: "accepted", state: "running", actionId: r.action_id });
  });

  it("queues beyond the concurrency limit and starts the queue head when a slot frees", () => {
    const spec = given([provisionDraft({ concurrency: 1 })]);
    spec.when(signal(spec, "s1", "noop"), signal(spec, "s2", "noop"), signal(spec, "s3", "noop"));
    expect(ops(spec)).toEqual(["action_started", "action_queued", "action_queued"]);
    expect(spec.snapshot().context.gov.busy).toBe(1);
    const first = started(spec);
    spec.clock.increment(10);
    spec.reset().when({ type: "HANDLER_SUCCEEDED", actionId: first.action_id, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_complete", "action_started"]);
    expect((spec.recorded[1] as ReceiptOf<"action_started">).signal_id).toBe("s2");
    expect(spec.recorded[0]).toMatchObject({ duration_ms: 10, status: "success" });
  });

  it("answers a repeated signal id with the earlier outcome and never runs it twice", () => {
    const spec = given([provisionDraft()]);
    spec.when(signal(spec, "s1", "noop"));
    const first = started(spec);
    spec.reset().when(signal(spec, "s1", "noop"));
    expect(spec.recorded).toEqual([]);
    expect(effectsOf(spec, "runHandler")).toEqual([]);
    expect(replies(spec)).toEqual([{ kind: "duplicate", outcome: { actionId: first.action_id, state: "running" } }]);
  });

  it.each<[string, string, Record<string, unknown>, string]>([
    ["an action the policy does not define", "launch", {}, "unknown_action"],
    ["an action the plan does not permit", "forbidden", {}, "not_permitted"],
    ["params that fail the action's schema", "noop", { n: "one" }, "invalid_params"],
    ["params with a field the schema forbids", "noop", { extra: true }, "invalid_params"],
    ["oversized params", "noop", { n: 1, pad: "x".repeat(2000) }, "params_too_large"],
  ])("refuses %s with a receipt and a code", (_what, action, params, code) => {
    const spec = given([provisionDraft()]);
    spec.when(signal(spec, "s1", action, params));
    expect(ops(spec)).toEqual(["action_refused"]);
    expect(spec.recorded[0]).toMatchObject({ status: "refused", code, signal_id: "s1" });
    expect(effectsOf(spec, "runHandler")).toEqual([]);
    expect(replies(spec)[0]).toMatchObject({ kind: "refused", code });
  });

  it("refuses past the monthly quota, and counts afresh in the next month", () => {
    const spec = given([provisionDraft({ concurrency: 10 })]);
    for (let i = 0; i < 5; i++) spec.when(signal(spec, `s${i}`, "noop"));
    spec.reset().when(signal(spec, "s5", "noop"));
    expect(spec.recorded[0]).toMatchObject({ operation: "action_refused", code: "quota_exhausted" });
    spec.clock.set(Date.parse("2026-12-01T00:00:00.000Z"));
    spec.reset().when(signal(spec, "s6", "noop"));
    expect(ops(spec)).toEqual(["action_started"]);
  });
});

describe("tenant governor: deadlines, failures and rollback", () => {
  function running(): { spec: Spec; actionId: string } {
    const spec = given([provisionDraft()]);
    spec.when(signal(spec, "s1", "slow"));
    const actionId = started(spec).action_id;
    spec.reset();
    return { spec, actionId };
  }

  it("ignores a deadline event that arrives before the deadline", () => {
    const { spec, actionId } = running();
    spec.clock.increment(499);
    spec.when({ type: "DEADLINE", actionId, now: spec.clock.now() });
    expect(spec.recorded).toEqual([]);
  });

  it("times out at the deadline, aborts, rolls back, and records action_rolled_back", () => {
    const { spec, actionId } = running();
    spec.clock.increment(500);
    spec.when({ type: "DEADLINE", actionId, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_timeout"]);
    expect(spec.recorded[0]).toMatchObject({ cause: "deadline", timeout_ms: 500, action_id: actionId });
    expect(effectsOf(spec, "abortHandler")).toHaveLength(1);
    expect(effectsOf(spec, "runRollback")[0]).toMatchObject({ cause: "timeout" });
    spec.reset().when({ type: "ROLLBACK_SUCCEEDED", actionId, now: spec.clock.now(), cause: "timeout" });
    expect(ops(spec)).toEqual(["action_rolled_back"]);
    expect(spec.snapshot().context.gov.open.size).toBe(0);
    expect(spec.snapshot().context.gov.busy).toBe(0);
  });

  it("ignores a result that arrives after the timeout", () => {
    const { spec, actionId } = running();
    spec.clock.increment(600);
    spec.when({ type: "DEADLINE", actionId, now: spec.clock.now() }).reset();
    spec.when({ type: "HANDLER_SUCCEEDED", actionId, now: spec.clock.now() });
    expect(spec.recorded).toEqual([]);
  });

  it("rolls back a recoverable failure", () => {
    const { spec, actionId } = running();
    spec.when({ type: "HANDLER_FAILED", actionId, now: spec.clock.now(), code: "http_503", message: "down", recoverable: true });
    expect(ops(spec)).toEqual(["action_failed"]);
    expect(spec.recorded[0]).toMatchObject({ recoverable: true, code: "http_503" });
    expect(effectsOf(spec, "runRollback")[0]).toMatchObject({ cause: "error" });
    expect(effectsOf(spec, "alert")).toEqual([]);
  });

  it("fails an unrecoverable error, escalates it for review (runbook 5) with an alert, and rolls nothing back", () => {
    const { spec, actionId } = running();
    spec.when({ type: "HANDLER_FAILED", actionId, now: spec.clock.now(), code: "http_400", message: "bad", recoverable: false });
    expect(ops(spec)).toEqual(["escalation", "action_failed"]);
    expect(spec.recorded[0]).toMatchObject({ code: "action_failed", action_id: actionId, signal_id: "s1" });
    expect(spec.recorded[1]).toMatchObject({ code: "http_400", recoverable: false });
    expect(effectsOf(spec, "runRollback")).toEqual([]);
    expect(effectsOf(spec, "alert")[0]).toMatchObject({ code: "action_failed" });
    expect(spec.snapshot().context.gov.busy).toBe(0);
  });

  it("escalates a rollback that fails, once, without retrying it", () => {
    const { spec, actionId } = running();
    spec.clock.increment(500);
    spec.when({ type: "DEADLINE", actionId, now: spec.clock.now() }).reset();
    spec.when({ type: "ROLLBACK_FAILED", actionId, now: spec.clock.now(), cause: "timeout", error: "HTTP 500" });
    expect(ops(spec)).toEqual(["escalation", "action_failed"]);
    expect(spec.recorded[0]).toMatchObject({ code: "rollback_failed", action_id: actionId });
    expect(spec.recorded[1]).toMatchObject({ code: "rollback_failed", recoverable: false });
    expect(effectsOf(spec, "runRollback")).toEqual([]);
    expect(effectsOf(spec, "alert")).toHaveLength(1);
    spec.reset().when({ type: "ROLLBACK_FAILED", actionId, now: spec.clock.now(), cause: "timeout", error: "again" });
    expect(spec.recorded).toEqual([]);
  });

  it("fails a timed-out action that declares no rollback, and escalates it with an alert", () => {
    const spec = given([provisionDraft()]);
    spec.when(signal(spec, "s1", "fragile"));
    const actionId = started(spec).action_id;
    spec.clock.increment(500);
    spec.reset().when({ type: "DEADLINE", actionId, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_timeout", "escalation", "action_failed"]);
    expect(spec.recorded[1]).toMatchObject({ code: "timeout_no_rollback", action_id: actionId });
    expect(spec.recorded[2]).toMatchObject({ code: "timeout_no_rollback" });
    expect(effectsOf(spec, "runRollback")).toEqual([]);
    expect(effectsOf(spec, "alert")).toEqual([expect.objectContaining({ code: "action_timeout" })]);
  });
});

describe("tenant governor: crash recovery", () => {
  it("resolves on resume every action that was running and starts the queue", () => {
    const base = given([provisionDraft({ concurrency: 1 })]);
    base.when(signal(base, "s1", "slow"), signal(base, "s2", "slow"));
    // A new process: the same receipts, nothing else.
    const drafts = base.ledger.map(({ v: _v, receipt_id: _r, ledger: _l, seq: _s, timestamp: _t, account_id: _a, prev_hash: _p, hash: _h, ...d }) => d as ReceiptDraft);
    const spec = given(drafts);
    expect(spec.snapshot().context.gov.busy).toBe(1);
    spec.clock.increment(50);
    spec.when({ type: "RESUME", now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_timeout"]);
    expect(spec.recorded[0]).toMatchObject({ cause: "crash", signal_id: "s1" });
    const rollback = effectsOf(spec, "runRollback")[0]!;
    expect(rollback.cause).toBe("crash");
    expect(effectsOf(spec, "runHandler")).toEqual([]);
    spec.reset().when({ type: "ROLLBACK_SUCCEEDED", actionId: rollback.action.actionId, now: spec.clock.now(), cause: "crash" });
    expect(ops(spec)).toEqual(["action_rolled_back", "action_started"]);
    expect(spec.recorded[1]).toMatchObject({ signal_id: "s2" });
  });
});

describe("tenant governor: cancel", () => {
  it("drains: cancels what waits, lets what runs finish, then decommissions", () => {
    const spec = given([provisionDraft({ concurrency: 1 })]);
    spec.when(signal(spec, "s1", "noop"), signal(spec, "s2", "noop"));
    const running = started(spec).action_id;
    spec.reset().when({ type: "CANCEL", eventId: "evt-9", entitlementId: "ent-1", now: spec.clock.now(), drainMs: 30_000 });
    expect(spec.state()).toBe("draining");
    expect(ops(spec)).toEqual(["action_failed"]);
    expect(spec.recorded[0]).toMatchObject({ code: "cancelled", signal_id: "s2" });
    expect(effectsOf(spec, "armDrainDeadline")[0]!.at).toBe(spec.clock.now() + 30_000);

    spec.reset().when(signal(spec, "s3", "noop"));
    expect(spec.recorded).toEqual([]);
    expect(replies(spec)).toEqual([{ kind: "unavailable", reason: "decommissioning" }]);

    spec.when({ type: "HANDLER_SUCCEEDED", actionId: running, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_complete", "decommission_start"]);
    expect(spec.recorded[1]).toMatchObject({ in_flight: 1, event_id: "evt-9" });
    expect(spec.state()).toBe("decommissioning");
    expect(effectsOf(spec, "exportArchive")).toHaveLength(1);

    spec.reset().when({ type: "ARCHIVED", archiveUri: "file:///a.tar.gz", archiveBytes: 10, archiveSha256: "a".repeat(64), receiptCount: 6, now: spec.clock.now() });
    expect(ops(spec)).toEqual(["decommission_complete"]);
    expect(spec.state()).toBe("decommissioned");
    expect(effectsOf(spec, "deleteChannel")).toHaveLength(1);
  });

  it("times out what still runs when the drain limit passes", () => {
    const spec = given([provisionDraft()]);
    spec.when(signal(spec, "s1", "slow"));
    const actionId = started(spec).action_id;
    spec.when({ type: "CANCEL", eventId: "evt-9", entitlementId: "ent-1", now: spec.clock.now(), drainMs: 100 }).reset();
    spec.clock.increment(100);
    spec.when({ type: "DRAIN_EXPIRED", now: spec.clock.now() });
    expect(ops(spec)).toEqual(["action_timeout"]);
    expect(spec.recorded[0]).toMatchObject({ cause: "drain" });
    spec.reset().when({ type: "ROLLBACK_SUCCEEDED", actionId, now: spec.clock.now(), cause: "drain" });
    expect(ops(spec)).toEqual(["action_rolled_back", "decommission_start"]);
  });

  it("decommissions at once when nothing is open", () => {
    const spec = given([provisionDraft()]);
    spec.when({ type: "CANCEL", eventId: "evt-9", entitlementId: "ent-1", now: spec.clock.now(), drainMs: 100 });
    expect(ops(spec)).toEqual(["decommission_start"]);
    expect(spec.state()).toBe("decommissioning");
  });

  it("is provisioned again on the same ledger after a cancel", () => {
    const spec = given([
      provisionDraft(),
      { operation: "decommission_start", status: "pending", duration_ms: 0, event_id: "e", entitlement_id: "ent-1", in_flight: 0 },
      { operation: "decommission_complete", status: "success", duration_ms: 1, event_id: "e", entitlement_id: "ent-1", archive_uri: "file:///x", archive_bytes: 1, archive_sha256: "b".repeat(64), receipt_count: 2 },
    ]);
    expect(spec.state()).toBe("decommissioned");
    spec.when({ type: "PROVISION", eventId: "evt-2", entitlementId: "ent-2", skuId: "demo", plan: "basic", policyVersion: "1.0.0", concurrency: 2, channel: "c", durationMs: 1 });
    expect(ops(spec)).toEqual(["entitlement_active"]);
    expect(spec.state()).toBe("active");
  });
});

describe("tenant governor: pure decisions", () => {
  it("decides a signal's receipts and effects and changes nothing: only a recorded receipt does", () => {
    const spec = given([provisionDraft()]);
    const gov = spec.snapshot().context.gov;
    const before = structuredClone({ open: [...gov.open], signals: [...gov.signals], lastSeq: gov.lastSeq, busy: gov.busy });
    const command = { ...signal(spec, "s1", "noop", { n: 1 }), now: spec.clock.now() } as Parameters<typeof decide>[1];
    const decision = decide(gov, command, { policyOf: (s) => resolveStatePolicy(s, () => spec.snapshot().context.policy ?? undefined), limits: { maxParamsBytes: 1024 } });
    expect(decision.drafts.map((d) => d.operation)).toEqual(["action_started"]);
    expect(decision.effects.map((e) => e.type)).toEqual(["armDeadline", "runHandler", "reply"]);
    expect({ open: [...gov.open], signals: [...gov.signals], lastSeq: gov.lastSeq, busy: gov.busy }).toEqual(before);
    expect(spec.recorded).toEqual([]);
    expect(spec.effects).toEqual([]);
  });
});
