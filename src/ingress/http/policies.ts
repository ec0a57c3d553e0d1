/** GitOps policy routes: push a policy document, list SKUs, read a SKU's current document. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { MAX_POLICY_BYTES, type PolicyPushResult } from "../../app/governor-service.ts";
import type { RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode, zodMessage } from "./errors.ts";
import { header, receiptRef } from "./params.ts";

const flag = z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1" || v === "");
const PushQuery = z.strictObject({ force: flag, dry_run: flag, new_sku: flag });
const actorPattern = /^[A-Za-z0-9][A-Za-z0-9 ._@:/+-]{0,127}$/;

export function registerPolicyRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, auth } = ctx;

  app.post("/v1/policies", { preHandler: auth("gitops"), bodyLimit: MAX_POLICY_BYTES }, async (req, reply) => {
    const q = PushQuery.safeParse(req.query);
    if (!q.success) throw new ApiError(400, ApiErrorCode.queryInvalid, `${zodMessage(q.error)} (use ?force=true, ?dry_run=true, ?new_sku=true)`);
    const actor = header(req, "x-governor-actor");
    if (actor !== undefined && !actorPattern.test(actor)) {
      throw new ApiError(400, ApiErrorCode.queryInvalid, "x-governor-actor must be 1-128 printable characters naming who pushes (e.g. a pipeline or a user)");
    }
    const by = `${req.scope ?? "gitops"} token${actor === undefined ? "" : ` (${actor})`}`;
    const result = await service.pushPolicy(req.body, { force: q.data.force, dryRun: q.data.dry_run, allowNewSku: q.data.new_sku, by });
    const [status, body] = pushReply(result);
    return reply.status(status).send(body);
  });

  app.get("/v1/policies", { preHandler: auth("gitops", "operator") }, async () => ({ policies: service.policies() }));

  app.get("/v1/policies/:sku", { preHandler: auth("gitops", "operator") }, async (req) => {
    const sku = (req.params as { sku: string }).sku;
    const doc = service.policyDocument(sku);
    if (doc === undefined) throw new ApiError(404, "POLICY_UNKNOWN_SKU", `no policy exists for SKU "${sku.slice(0, 64)}" here`);
    return doc;
  });
}

/** The status and body that answer a push. */
function pushReply(result: PolicyPushResult): [number, Record<string, unknown>] {
  switch (result.kind) {
    case "invalid":
      return [
        result.code === "POLICY_UNKNOWN_SKU" ? 404 : 400,
        {
          error: {
            code: result.code,
            message: result.issues.map((i) => `${i.path}: ${i.message}`).slice(0, 10).join("; "),
            issues: result.issues,
          },
          ...(result.receipt === null ? {} : { receipt: receiptRef(result.receipt) }),
        },
      ];
    case "incompatible":
      return [
        409,
        {
          error: {
            code: result.immutable ? "POLICY_VERSION_CONFLICT" : "POLICY_INCOMPATIBLE",
            message: result.immutable
              ? `${result.reasons.join("; ")}`
              : `not applied, nothing changed: ${result.reasons.join("; ")}; fix the policy, or push with --force (?force=true) to apply it anyway`,
            reasons: result.reasons,
          },
          receipt: receiptRef(result.receipt),
        },
      ];
    case "unchanged":
      return [200, { status: "unchanged", sku_id: result.sku_id, policy_version: result.policy_version }];
    case "dry_run":
      return [200, { status: "dry_run", compatible: result.compatible, reasons: result.reasons, diff: result.diff, compat_check_ms: result.compat_check_ms }];
    case "applied":
      return [
        200,
        {
          status: "applied",
          sku_id: result.sku_id,
          previous_version: result.previous_version,
          policy_version: result.policy_version,
          forced: result.forced,
          reasons_overridden: result.reasons_overridden,
          governors: result.governors,
          compat_check_ms: result.compat_check_ms,
          broadcast_ms: result.broadcast_ms,
        },
      ];
  }
}
