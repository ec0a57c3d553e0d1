/**
 * The policy document: one per SKU, the data GitOps edits in `policies/`.
 * It names the plans (quotas, concurrency, cost), the actions each plan
 * permits (handler, params schema, timeout, rollback) and the health and
 * scaling settings.
 */
import { z } from "zod";
import { checkParamsSchema, compileParamsSchema } from "./params-schema.ts";

/**
 * The largest policy document, in bytes of JSON: `POST /v1/policies` answers
 * 413 above it and a file of the policies directory above it is refused.
 * Within it and the JSON limits every check of a push is fast.
 */
export const MAX_POLICY_BYTES = 1024 * 1024;

const name = z
  .string()
  .regex(/^[a-z][a-z0-9_.-]{0,63}$/, "expected a lowercase name: letters, digits, '_', '.', '-' (max 64)");
/** A SKU id: a name up to 128 long, so a Google Cloud Marketplace product name (`productExternalName`) can be one. */
const skuName = z
  .string()
  .regex(/^[a-z][a-z0-9_.-]{0,127}$/, "expected a SKU id: lowercase letters, digits, '_', '.', '-' (max 128), such as a Marketplace product name");
const semver = z
  .string()
  .regex(/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/, "expected a semantic version MAJOR.MINOR.PATCH, e.g. 1.4.0");
const usd = z.string().regex(/^\d+(\.\d{1,6})?$/, "expected a non-negative decimal string in USD, e.g. \"0.50\"");

/** A JSON Schema (draft 2020-12 subset zod understands) for an action's params. */
const jsonSchema = z.record(z.string(), z.unknown());

export const HandlerName = { noop: "noop", http: "http" } as const;
export type HandlerName = (typeof HandlerName)[keyof typeof HandlerName];

export const ActionSpec = z.strictObject({
  description: z.string().max(512).optional(),
  /** Which handler runs the action: a built-in (`noop`, `http`) or one the runtime registers. */
  handler: name,
  /** JSON Schema the params must satisfy; `{ "type": "object" }` accepts any object. */
  params_schema: jsonSchema.default({ type: "object" }),
  /** Hard deadline; the handler's AbortSignal fires at it. */
  timeout_ms: z.number().int().min(1).max(300_000).default(500),
  /** Handler settings: for `http`, `url` and `rollback_url`. */
  config: z.record(z.string(), z.unknown()).default({}),
  /** Whether a timed-out or failed action is rolled back. */
  rollback: z.enum(["auto", "none"]).default("auto"),
});
export type ActionSpec = z.infer<typeof ActionSpec>;

/** One billed metric: its name at Service Control (after the service name) and the receipts it counts. */
export const MeteringSpec = z.strictObject({
  metric: z.string().regex(/^[a-z][a-z0-9_./-]{0,127}$/, "expected a metric name: lowercase letters, digits, '_', '.', '/', '-' (max 128)"),
  /** `action_complete`: each completed action; `action_started`: each started one. */
  counts: z.enum(["action_complete", "action_started"]),
});

export const PlanSpec = z.strictObject({
  description: z.string().max(512).optional(),
  /** Actions started per calendar month (UTC). */
  monthly_actions: z.number().int().min(0),
  /** Actions running at once when provisioned. */
  concurrent_actions: z.number().int().min(1).max(10_000),
  /** The most the scaler may raise concurrency to. */
  max_concurrency: z.number().int().min(1).max(10_000),
  /** Cost of one concurrency slot above the plan's base, per month. */
  cost_per_slot_usd: usd,
  /** Names of the actions this plan permits. */
  actions: z.array(name).max(256),
  /**
   * Google Cloud Marketplace: the metrics this plan bills, each a count of
   * one kind of receipt, reported to Service Control as
   * `<service name>/<metric>` (GOVERNOR_MARKETPLACE_SERVICE_NAME).
   */
  metering: z.array(MeteringSpec).max(16).default([]),
});
export type PlanSpec = z.infer<typeof PlanSpec>;

/**
 * Google Cloud Marketplace: how the Procurement API's requests on this SKU's
 * entitlements are decided. `auto` approves a request whose plan (and
 * region, when the entitlement names one) the lists accept; `manual` leaves
 * every request to a person in Producer Portal (recorded, nothing sent).
 */
export const MarketplaceSpec = z.strictObject({
  approval: z.enum(["auto", "manual"]).default("auto"),
  /** The plans accepted; absent: every plan of this policy. */
  accept_plans: z.array(name).max(256).optional(),
  /** The regions accepted (the entitlement's `inputProperties.region`); absent: any. */
  accept_regions: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "expected a region such as europe-west1")).max(256).optional(),
});
export type MarketplaceSpec = z.infer<typeof MarketplaceSpec>;

export const ScalingSpec = z.strictObject({
  /** Scale up when this many signals wait. */
  queue_depth_threshold: z.number().int().min(1).default(100),
  /** Or when the oldest waiting signal is older than this. */
  oldest_wait_ms_threshold: z.number().int().min(1).default(5_000),
  /** Lag must fall within this window after a scale-up, or it is reverted. */
  window_ms: z.number().int().min(1).default(60_000),
  /** Slots added per scale decision. */
  step: z.number().int().min(1).default(1),
});

export const HealthSpec = z.strictObject({
  /** Consecutive failed probes before safe mode. */
  failure_threshold: z.number().int().min(1).max(100).default(3),
});

export const PolicyDocument = z
  .strictObject({
    sku_id: skuName,
    policy_version: semver,
    description: z.string().max(1024).optional(),
    actions: z.record(name, ActionSpec),
    plans: z.record(name, PlanSpec),
    scaling: ScalingSpec.default({ queue_depth_threshold: 100, oldest_wait_ms_threshold: 5_000, window_ms: 60_000, step: 1 }),
    health: HealthSpec.default({ failure_threshold: 3 }),
    marketplace: MarketplaceSpec.default({ approval: "auto" }),
  })
  .superRefine((doc, ctx) => {
    if (Object.keys(doc.plans).length === 0) {
      ctx.addIssue({ code: "custom", path: ["plans"], message: "a policy needs at least one plan" });
    }
    for (const [planName, plan] of Object.entries(doc.plans)) {
      for (const [i, action] of plan.actions.entries()) {
        if (!(action in doc.actions)) {
          ctx.addIssue({
            code: "custom",
            path: ["plans", planName, "actions", i],
            message: `plan "${planName}" permits action "${action}", which the policy does not define`,
          });
        }
      }
      const metrics = plan.metering.map((m) => m.metric);
      if (new Set(metrics).size !== metrics.length) {
        ctx.addIssue({ code: "custom", path: ["plans", planName, "metering"], message: `plan "${planName}" names a metric twice` });
      }
      if (plan.max_concurrency < plan.concurrent_actions) {
        ctx.addIssue({
          code: "custom",
          path: ["plans", planName, "max_concurrency"],
          message: `max_concurrency (${plan.max_concurrency}) is below concurrent_actions (${plan.concurrent_actions})`,
        });
      }
    }
    for (const [i, plan] of (doc.marketplace.accept_plans ?? []).entries()) {
      if (!(plan in doc.plans)) {
        ctx.addIssue({ code: "custom", path: ["marketplace", "accept_plans", i], message: `marketplace.accept_plans names plan "${plan}", which the policy does not define` });
      }
    }
    for (const [actionName, action] of Object.entries(doc.actions)) {
      if (action.handler === "http") {
        for (const key of ["url", "rollback_url"] as const) {
          const value = action.config[key];
          if (key === "rollback_url" && action.rollback === "none") continue;
          if (typeof value !== "string" || !/^https?:\/\//.test(value)) {
            ctx.addIssue({
              code: "custom",
              path: ["actions", actionName, "config", key],
              message: `http action "${actionName}" needs config.${key}, an http(s) URL`,
            });
          }
        }
      }
      const unsafe = checkParamsSchema(action.params_schema);
      for (const issue of unsafe) {
        ctx.addIssue({ code: "custom", path: ["actions", actionName, "params_schema", ...issue.path], message: issue.message });
      }
      if (unsafe.length > 0) continue;
      try {
        compileParamsSchema(action.params_schema);
      } catch (err) {
        ctx.addIssue({
          code: "custom",
          path: ["actions", actionName, "params_schema"],
          message: `params_schema is not a usable JSON Schema: ${(err as Error).message}`,
        });
      }
    }
  });
export type PolicyDocument = z.infer<typeof PolicyDocument>;

/** One validation problem, with the path into the document. */
export interface PolicyIssue {
  readonly path: string;
  readonly message: string;
}

/** Parses a policy document; returns the issues with their paths instead of throwing. */
export function parsePolicy(input: unknown): { ok: true; policy: PolicyDocument } | { ok: false; issues: PolicyIssue[] } {
  const result = PolicyDocument.safeParse(input);
  if (result.success) return { ok: true, policy: result.data };
  return {
    ok: false,
    issues: result.error.issues.map((i) => ({ path: i.path.length ? i.path.join(".") : "(document)", message: i.message })),
  };
}

/** A SKU id the policy schema accepts. */
export const isSkuId = (value: unknown): value is string => PolicyDocument.shape.sku_id.safeParse(value).success;
/** A policy version the policy schema accepts. */
export const isPolicyVersion = (value: unknown): value is string => PolicyDocument.shape.policy_version.safeParse(value).success;

/** Throws when a SKU id or version is one the policy schema would reject: registries use them as file and object names. */
export function checkPolicyKey(sku: string, version: string): void {
  const s = PolicyDocument.shape.sku_id.safeParse(sku);
  if (!s.success) throw new Error(`${JSON.stringify(sku.slice(0, 64))} is not a SKU id: ${s.error.issues[0]?.message ?? "invalid"}`);
  const v = PolicyDocument.shape.policy_version.safeParse(version);
  if (!v.success) throw new Error(`${JSON.stringify(version.slice(0, 64))} is not a policy version: ${v.error.issues[0]?.message ?? "invalid"}`);
}
