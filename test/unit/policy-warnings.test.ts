/**
 * Scaling warnings of `policy validate` and of a push: a step that can never
 * be taken in full, and a plan that can never scale. Warnings never refuse a
 * policy. The CLI is run as a process, offline, on the shipped policies.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { validatePolicy } from "../../src/policy/rollout.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { policyWarnings } from "../../src/policy/warnings.ts";

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const cliPath = join(root, "src/cli/main.ts");

function policy(plans: Record<string, [concurrency: number, max: number]>, step: number): PolicyDocument {
  return PolicyDocument.parse({
    sku_id: "shop",
    policy_version: "1.0.0",
    actions: { noop: { handler: "noop" } },
    plans: Object.fromEntries(
      Object.entries(plans).map(([name, [concurrency, max]]) => [
        name,
        { monthly_actions: 100, concurrent_actions: concurrency, max_concurrency: max, cost_per_slot_usd: "1.00", actions: ["noop"] },
      ]),
    ),
    scaling: { step },
  });
}

describe("policyWarnings", () => {
  it("a step that passes the maximum: names the plan, the step, where it starts and where the scaler stops", () => {
    expect(policyWarnings(policy({ team: [1, 2] }, 2))).toEqual([
      { path: "plans.team.max_concurrency", message: "plan team: a scaling step of 2 from concurrency 1 passes max_concurrency 2; the scaler will stop at 2" },
    ]);
  });

  it("the short step is the last one: from the highest concurrency whole steps reach", () => {
    expect(policyWarnings(policy({ p: [1, 8] }, 3)).map((w) => w.message)).toEqual([
      "plan p: a scaling step of 3 from concurrency 7 passes max_concurrency 8; the scaler will stop at 8",
    ]);
  });

  it("a plan already at its maximum never scales", () => {
    expect(policyWarnings(policy({ fixed: [4, 4] }, 1))).toEqual([
      { path: "plans.fixed.max_concurrency", message: "plan fixed: concurrency 4 already equals max_concurrency 4; the scaler never scales this plan" },
    ]);
  });

  it("whole steps up to the maximum: no warning", () => {
    expect(policyWarnings(policy({ a: [4, 16], b: [16, 64] }, 2))).toEqual([]);
    expect(policyWarnings(policy({ a: [1, 4], b: [64, 256] }, 1))).toEqual([]);
  });
});

describe("validatePolicy", () => {
  it("a policy with warnings is valid: the warnings come with it", () => {
    const result = validatePolicy(JSON.parse(readFileSync(join(root, "policies/deploy-pipeline.json"), "utf8")), ["noop", "http"]);
    expect(result.ok).toBe(true);
    expect(result.ok && result.warnings.map((w) => w.message)).toEqual([
      "plan team: a scaling step of 2 from concurrency 1 passes max_concurrency 2; the scaler will stop at 2",
    ]);
  });

  it("the demo policy has none", () => {
    const result = validatePolicy(JSON.parse(readFileSync(join(root, "policies/demo.json"), "utf8")), ["noop", "http"]);
    expect(result.ok && result.warnings).toEqual([]);
  });
});

describe("governor policy validate", () => {
  it("prints the warnings and still succeeds (exit 0)", async () => {
    const file = join(root, "policies/deploy-pipeline.json");
    const { stdout, stderr } = await exec(process.execPath, [cliPath, "policy", "validate", file], { cwd: root });
    expect(stdout).toContain(`${file}: ok: deploy-pipeline@`);
    expect(stderr).toContain(`${file}: warning: plans.team.max_concurrency: plan team: a scaling step of 2 from concurrency 1 passes max_concurrency 2; the scaler will stop at 2`);
  });
});
