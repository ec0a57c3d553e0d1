/**
 * The policies the recorded ledgers were written under. A rebuild resolves
 * each ledger's policy version among them, so a recorded ledger keeps
 * rebuilding to the same state whatever `policies/` holds later.
 */
import type { PolicyView } from "../../governors/policy-view.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { testPolicyDocument } from "../support/governor-spec.ts";

/** The test policy at another version, changed by `edit`. */
function demoAt(version: string, edit: (doc: PolicyDocument) => void): PolicyDocument {
  const doc = structuredClone(testPolicyDocument);
  doc.policy_version = version;
  edit(doc);
  return PolicyDocument.parse(doc);
}

/** `demo` 1.1.0: plan `basic` also permits `forbidden`. A governor on 1.0.0 can take it at once. */
export const demoPermitsForbidden = demoAt("1.1.0", (d) => void d.plans["basic"]!.actions.push("forbidden"));

/** `demo` 1.2.0: a month of one action. A governor that used more this month keeps its version. */
export const demoOneActionAMonth = demoAt("1.2.0", (d) => {
  d.plans["basic"]!.actions.push("forbidden");
  d.plans["basic"]!.monthly_actions = 1;
});

/** Handlers the recorded workflows use beside the built-in `noop`. */
export const RecordedHandler = {
  /** Runs until the recording lets it finish. */
  held: "held",
  /** Never finishes; its rollback succeeds. */
  hangs: "hangs",
} as const;

/**
 * `scaled`: one slot, at most two, one more per scale decision; lag is two
 * waiting signals or a signal waiting a second, judged over ten seconds.
 */
export const scaledPolicy = PolicyDocument.parse({
  sku_id: "scaled",
  policy_version: "1.0.0",
  actions: { work: { handler: RecordedHandler.held, timeout_ms: 300_000 } },
  plans: { team: { monthly_actions: 1000, concurrent_actions: 1, max_concurrency: 2, cost_per_slot_usd: "0.25", actions: ["work"] } },
  scaling: { queue_depth_threshold: 2, oldest_wait_ms_threshold: 1000, window_ms: 10_000, step: 1 },
});

/** `deadlines`: actions that never finish, with a rollback (`hang`) or without one (`hang_unrolled`), and one with a long deadline (`long`). */
export const deadlinesPolicy = PolicyDocument.parse({
  sku_id: "deadlines",
  policy_version: "1.0.0",
  actions: {
    hang: { handler: RecordedHandler.hangs, timeout_ms: 500 },
    hang_unrolled: { handler: RecordedHandler.hangs, timeout_ms: 500, rollback: "none" },
    long: { handler: RecordedHandler.hangs, timeout_ms: 60_000 },
  },
  plans: { p: { monthly_actions: 100, concurrent_actions: 2, max_concurrency: 2, cost_per_slot_usd: "1.00", actions: ["hang", "hang_unrolled", "long"] } },
});

const recorded: PolicyView[] = [testPolicyDocument, demoPermitsForbidden, demoOneActionAMonth, scaledPolicy, deadlinesPolicy].map((d) => compilePolicy(d));

/** Resolves a SKU's version among the recorded policies. */
export function resolveRecordedPolicy(skuId: string, version: string): PolicyView | undefined {
  return recorded.find((p) => p.skuId === skuId && p.version === version);
}
