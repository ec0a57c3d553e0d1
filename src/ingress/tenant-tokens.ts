/**
 * Tenant tokens over HTTP: checking a tenant token on a request, and the
 * routes that issue, list and revoke them.
 *
 * A tenant token acts on its own tenant only. On any other tenant the answer
 * is one and the same 403 (status, code, message, headers), decided from the
 * token and the path alone, before anything about that tenant is looked at:
 * whether it exists, its state, the body, its signal ids. So a tenant can
 * neither act on another nor learn which tenants exist.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Scope } from "../credentials.ts";
import type { LedgerId } from "../ledger/receipt.ts";
import { ref } from "../runtime/marketplace.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { TokenLimitError } from "../runtime/tenant-tokens.ts";
import { ApiError, ApiErrorCode } from "./api-error.ts";

/** Error codes of tenant tokens (stable). */
export const TenantTokenErrorCode = {
  /** A tenant token used on a tenant other than its own (whether that tenant exists or not). */
  otherTenant: "AUTH_TENANT_FORBIDDEN",
  tokenUnknown: "TENANT_TOKEN_UNKNOWN",
  tokenLimit: "TENANT_TOKEN_LIMIT",
  decommissioned: "TENANT_DECOMMISSIONED",
} as const;

/** The one answer a tenant token gets on another tenant. */
const otherTenant = () => new ApiError(403, TenantTokenErrorCode.otherTenant, "a tenant token acts only on its own tenant");
const invalidToken = () => new ApiError(401, ApiErrorCode.authInvalid, "the bearer token is not valid", { "www-authenticate": "Bearer" });

/**
 * Checks a bearer token that is no platform token: a tenant token passes a
 * route that allows `tenant` on its own tenant's path only. Throws the API
 * error to answer otherwise.
 */
export function authTenantToken(rt: Runtime, req: FastifyRequest, digest: Buffer, allowed: readonly Scope[]): void {
  const owner = rt.tokens.verifyDigest(digest.toString("hex"));
  if (owner === null) throw invalidToken();
  if (!allowed.includes("tenant")) {
    throw new ApiError(403, ApiErrorCode.authScope, `this needs a token with scope ${["admin", ...allowed].join(" or ")}; yours is a tenant token`);
  }
  // Compared with the path as routed, before the account is parsed or looked up.
  if ((req.params as { account?: unknown }).account !== owner.account) throw otherTenant();
  // Its own tenant, decommissioned: its tokens were revoked with it (this holds in the gap before that is done).
  if (rt.host.lifecycleOf(owner.account) === "decommissioned") throw invalidToken();
  req.scope = "tenant";
}

type Auth = (...allowed: Scope[]) => (req: FastifyRequest) => Promise<void>;

/** Registers `POST|GET /v1/tenants/{account}/tokens` and `DELETE /v1/tenants/{account}/tokens/{token_id}` (operator). */
export function registerTenantTokenRoutes(app: FastifyInstance, rt: Runtime, helpers: { auth: Auth; accountParam: (req: FastifyRequest) => LedgerId }): void {
  const { auth, accountParam } = helpers;

  /** The tenant, which must be provisioned here (any state but never provisioned). */
  const provisioned = (account: string) => {
    const s = rt.host.status(account);
    if (s === undefined || s.state === "new") throw new ApiError(404, ApiErrorCode.tenantUnknown, `no tenant "${account}" is provisioned here`);
    return s;
  };
  const by = (req: FastifyRequest): "admin" | "operator" => (req.scope === "admin" ? "admin" : "operator");
  const refuseInSafeMode = () => {
    if (rt.health.degraded) {
      throw new ApiError(503, ApiErrorCode.safeMode, "Governor is in safe mode (its ledger store is failing): no token was changed; retry later", {
        "retry-after": String(rt.config.retryAfterS),
      });
    }
  };

  app.post("/v1/tenants/:account/tokens", { preHandler: auth("operator") }, async (req, reply: FastifyReply) => {
    const account = accountParam(req);
    const s = provisioned(account);
    if (s.state === "decommissioned") {
      throw new ApiError(409, TenantTokenErrorCode.decommissioned, `tenant "${account}" is decommissioned; provision it again before issuing a token`);
    }
    if (s.state === "draining" || s.state === "decommissioning") {
      throw new ApiError(409, ApiErrorCode.tenantUnavailable, `tenant "${account}" is being cancelled; it gets no new token`);
    }
    refuseInSafeMode();
    let issued;
    try {
      issued = await rt.tokens.issue(account, by(req));
    } catch (err) {
      if (err instanceof TokenLimitError) throw new ApiError(409, TenantTokenErrorCode.tokenLimit, err.message);
      throw err;
    }
    return reply
      .status(201)
      .header("cache-control", "no-store")
      .send({ account_id: account, token_id: issued.tokenId, token: issued.token, created_at: issued.createdAt, receipt: ref(issued.receipt) });
  });

  app.get("/v1/tenants/:account/tokens", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req);
    provisioned(account);
    const tokens = await rt.tokens.list(account);
    return {
      account_id: account,
      max_active: rt.tokens.maxActive,
      tokens: tokens.map((t) => ({ token_id: t.tokenId, created_at: t.createdAt, last_used_at: t.lastUsedAt })),
    };
  });

  app.delete("/v1/tenants/:account/tokens/:token_id", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req);
    provisioned(account);
    const tokenId = (req.params as { token_id: string }).token_id;
    refuseInSafeMode();
    const receipt = await rt.tokens.revoke(account, tokenId, by(req));
    if (receipt === null) throw new ApiError(404, TenantTokenErrorCode.tokenUnknown, `tenant "${account}" has no active token "${tokenId.slice(0, 64)}"`);
    return { account_id: account, token_id: tokenId, revoked: true, receipt: ref(receipt) };
  });
}
