/**
 * What a valid policy does that its author probably did not mean: scaling
 * settings under which the scaler cannot add a full step, or cannot scale a
 * plan at all. Warnings never refuse a policy; `policy validate` prints them
 * and a push answers with them.
 */
import type { PolicyDocument, PolicyIssue } from "./schema.ts";

/**
 * Scaling warnings, one per plan at most. The scaler adds `scaling.step`
 * from the plan's concurrency and stops at `max_concurrency`: a plan whose
 * concurrency already is its maximum never scales, and a plan whose range
 * is not a whole number of steps ends with a step that passes the maximum
 * (the scaler takes what is left of it, up to the maximum).
 */
export function policyWarnings(policy: PolicyDocument): PolicyIssue[] {
  const step = policy.scaling.step;
  const warnings: PolicyIssue[] = [];
  for (const [name, plan] of Object.entries(policy.plans)) {
    const from = plan.concurrent_actions;
    const max = plan.max_concurrency;
    if (from >= max) {
      warnings.push({
        path: `plans.${name}.max_concurrency`,
        message: `plan ${name}: concurrency ${from} already equals max_concurrency ${max}; the scaler never scales this plan`,
      });
      continue;
    }
    const short = (max - from) % step;
    if (short !== 0) {
      const last = max - short;
      warnings.push({
        path: `plans.${name}.max_concurrency`,
        message: `plan ${name}: a scaling step of ${step} from concurrency ${last} passes max_concurrency ${max}; the scaler will stop at ${max}`,
      });
    }
  }
  return warnings;
}
