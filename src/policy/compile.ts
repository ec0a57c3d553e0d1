/**
 * Compiles a policy document into the `PolicyView` a governor reads: plans
 * and actions in maps, each action's params schema turned into a validator once.
 */
import { z } from "zod";
import type { ActionView, PlanView, PolicyView } from "../../governors/policy-view.ts";
import { compileParamsSchema } from "./params-schema.ts";
import type { PolicyDocument } from "./schema.ts";

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? `params.${i.path.join(".")}` : "params"}: ${i.message}`)
    .join("; ");
}

export function compilePolicy(doc: PolicyDocument): PolicyView {
  const actions = new Map<string, ActionView>();
  for (const [name, spec] of Object.entries(doc.actions)) {
    // Patterns match on re2js, in linear time (params-schema.ts); the document was checked when pushed.
    const schema = compileParamsSchema(spec.params_schema);
    actions.set(name, {
      name,
      handler: spec.handler,
      timeoutMs: spec.timeout_ms,
      rollback: spec.rollback,
      config: Object.freeze({ ...spec.config }),
      validateParams(params) {
        const result = schema.safeParse(params);
        return result.success ? null : describeIssues(result.error);
      },
    });
  }
  const plans = new Map<string, PlanView>();
  for (const [name, plan] of Object.entries(doc.plans)) {
    plans.set(name, {
      name,
      monthlyActions: plan.monthly_actions,
      concurrentActions: plan.concurrent_actions,
      maxConcurrency: plan.max_concurrency,
      costPerSlotUsd: plan.cost_per_slot_usd,
      permits: new Set(plan.actions),
      metering: plan.metering.map((m) => ({ metric: m.metric, counts: m.counts })),
    });
  }
  const scaling = {
    queueDepthThreshold: doc.scaling.queue_depth_threshold,
    oldestWaitMsThreshold: doc.scaling.oldest_wait_ms_threshold,
    windowMs: doc.scaling.window_ms,
    step: doc.scaling.step,
  };
  const m = doc.marketplace;
  const marketplace = {
    approval: m.approval,
    acceptPlans: m.accept_plans === undefined ? null : new Set(m.accept_plans),
    acceptRegions: m.accept_regions === undefined ? null : new Set(m.accept_regions),
  };
  return { skuId: doc.sku_id, version: doc.policy_version, plans, actions, scaling, marketplace };
}
