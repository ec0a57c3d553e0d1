/** Tenant tokens over HTTP (operator): `POST|GET /v1/tenants/{account}/tokens`, `DELETE /v1/tenants/{account}/tokens/{token_id}`. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { TenantTokenErrorCode } from "./auth.ts";
import type { RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode } from "./errors.ts";
import { accountParam, receiptRef } from "./params.ts";

export function registerTenantTokenRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, auth } = ctx;

  /** The tenant, which must be provisioned here (any state but never provisioned). */
  const provisioned = (account: string) => {
    const s = service.tenantStatus(account);
    if (s === undefined || s.state === "new") throw new ApiError(404, ApiErrorCode.tenantUnknown, `no tenant "${account}" is provisioned here`);
    return s;
  };
  const by = (req: FastifyRequest): "admin" | "operator" => (req.scope === "admin" ? "admin" : "operator");
  const refuseInSafeMode = () => {
    if (service.degraded) {
      throw new ApiError(503, ApiErrorCode.safeMode, "Governor is in safe mode (its ledger store is failing): no token was changed; retry later", {
        "retry-after": String(ctx.settings.retryAfterS),
      });
    }
  };

  app.post("/v1/tenants/:account/tokens", { preHandler: auth("operator") }, async (req, reply) => {
    const account = accountParam(req);
    const s = provisioned(account);
    if (s.state === "decommissioned") {
      throw new ApiError(409, TenantTokenErrorCode.decommissioned, `tenant "${account}" is decommissioned; provision it again before issuing a token`);
    }
    if (s.state === "draining" || s.state === "decommissioning") {
      throw new ApiError(409, ApiErrorCode.tenantUnavailable, `tenant "${account}" is being cancelled; it gets no new token`);
    }
    refuseInSafeMode();
    const issued = await service.issueToken(account, by(req));
    if ("limit" in issued) throw new ApiError(409, TenantTokenErrorCode.tokenLimit, issued.limit);
    return reply
      .status(201)
      .header("cache-control", "no-store")
      .send({ account_id: account, token_id: issued.tokenId, token: issued.token, created_at: issued.createdAt, receipt: receiptRef(issued.receipt) });
  });

  app.get("/v1/tenants/:account/tokens", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req);
    provisioned(account);
    const { maxActive, tokens } = await service.listTokens(account);
    return {
      account_id: account,
      max_active: maxActive,
      tokens: tokens.map((t) => ({ token_id: t.tokenId, created_at: t.createdAt, last_used_at: t.lastUsedAt })),
    };
  });

  app.delete("/v1/tenants/:account/tokens/:token_id", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req);
    provisioned(account);
    const tokenId = (req.params as { token_id: string }).token_id;
    refuseInSafeMode();
    const receipt = await service.revokeToken(account, tokenId, by(req));
    if (receipt === null) throw new ApiError(404, TenantTokenErrorCode.tokenUnknown, `tenant "${account}" has no active token "${tokenId.slice(0, 64)}"`);
    return { account_id: account, token_id: tokenId, revoked: true, receipt: receiptRef(receipt) };
  });
}
