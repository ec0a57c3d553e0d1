/** The operator's tenant routes: status, rebuild of a quarantined tenant, scale. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode, zodMessage } from "./errors.ts";
import { accountParam, receiptRef, unknownTenant } from "./params.ts";

const ScaleBody = z.strictObject({ concurrency: z.number().int().min(1).max(10_000) });

export function registerTenantRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, auth } = ctx;

  app.get("/v1/tenants/:account", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req);
    const s = service.tenantStatus(account);
    if (s === undefined) throw unknownTenant(account);
    const h = service.health();
    const accepting = service.accepting;
    const available = s.state === "active" && !h.degraded && accepting;
    const quarantine = s.quarantine === undefined ? {} : { quarantine: s.quarantine };
    return {
      account_id: s.account,
      availability: available ? "available" : "unavailable",
      ...(available ? {} : { unavailable_reason: h.degraded ? "safe_mode" : !accepting ? "shutting_down" : s.state }),
      state: s.state,
      mode: h.degraded || s.state === "degraded" ? "safe_mode" : "normal",
      sku_id: s.sku_id,
      plan: s.plan,
      policy_version: s.policy_version,
      concurrency: s.concurrency,
      in_flight: s.in_flight,
      queue_depth: s.queue_depth,
      oldest_wait_ms: s.oldest_wait_ms,
      last_success_at: s.last_success_at,
      ledger_size: s.ledger_size,
      ...quarantine,
      ...(s.procurement_account_id === undefined ? {} : { procurement_account_id: s.procurement_account_id }),
      ...(s.pending_cancellation === true ? { pending_cancellation: true } : {}),
      ...(s.scheduled_offer === undefined ? {} : { scheduled_offer: s.scheduled_offer }),
    };
  });

  app.post("/v1/tenants/:account/rebuild", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req);
    if (!service.isQuarantined(account)) {
      if (!service.hasTenant(account)) throw unknownTenant(account);
      throw new ApiError(409, ApiErrorCode.tenantNotQuarantined, `tenant "${account}" is in service; only a quarantined tenant is rebuilt`);
    }
    try {
      await service.rebuild(account);
    } catch (err) {
      throw new ApiError(409, ApiErrorCode.tenantRebuildFailed, `tenant "${account}" could not be rebuilt from its ledger and stays out of service: ${(err as Error).message.slice(0, 300)}`);
    }
    return { account_id: account, restored: true, state: service.tenantStatus(account)?.state ?? null };
  });

  app.post("/v1/tenants/:account/scale", { preHandler: auth("operator") }, async (req, reply) => {
    const account = accountParam(req);
    const parsed = ScaleBody.safeParse(req.body);
    if (!parsed.success) throw new ApiError(400, ApiErrorCode.bodyInvalid, `${zodMessage(parsed.error)} (send {"concurrency": N}, N from 1 to 10000)`);
    if (!service.hasTenant(account)) throw unknownTenant(account);
    if (service.degraded) {
      throw new ApiError(503, ApiErrorCode.safeMode, "Governor is in safe mode (its ledger store is failing): nothing was scaled; retry later", { "retry-after": String(ctx.settings.retryAfterS) });
    }
    const { state, before, receipt } = await service.scale(account, parsed.data.concurrency);
    if (state !== "active") throw new ApiError(409, ApiErrorCode.tenantUnavailable, `the tenant is ${state}; only an active tenant can be scaled`);
    if (receipt === null) return reply.status(200).send({ account_id: account, concurrency: before ?? parsed.data.concurrency, unchanged: true });
    if (receipt.operation === "quota_exceeded") {
      return reply.status(422).send({
        error: {
          code: "QUOTA_EXCEEDED",
          message: `concurrency ${receipt.requested} is over the plan's maximum of ${receipt.limit}; nothing changed (a plan change raises the maximum)`,
        },
        receipt: receiptRef(receipt),
      });
    }
    if (receipt.operation !== "governor_scaled") throw new ApiError(500, ApiErrorCode.internal, "unexpected scale outcome");
    return reply.status(200).send({
      account_id: account,
      previous_concurrency: receipt.previous_concurrency,
      concurrency: receipt.concurrency,
      cost_delta_usd: receipt.cost_delta_usd,
      receipt: receiptRef(receipt),
    });
  });
}
