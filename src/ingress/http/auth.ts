/**
 * Bearer tokens on requests: platform tokens by scope, and tenant tokens.
 *
 * A tenant token acts on its own tenant only. On any other tenant the answer
 * is one and the same 403 (status, code, message, headers), decided from the
 * token and the path alone, before anything about that tenant is looked at:
 * whether it exists, its state, the body, its signal ids. So a tenant can
 * neither act on another nor learn which tenants exist.
 */
import type { FastifyRequest } from "fastify";
import type { GovernorService } from "../../app/governor-service.ts";
import { bearerDigest, scopeOfDigest, type Credentials, type Scope } from "../../credentials.ts";
import type { Auth } from "./context.ts";
import { ApiError, ApiErrorCode } from "./errors.ts";

/** Error codes of tenant tokens (stable). */
export const TenantTokenErrorCode = {
  /** A tenant token used on a tenant other than its own (whether that tenant exists or not). */
  otherTenant: "AUTH_TENANT_FORBIDDEN",
  tokenUnknown: "TENANT_TOKEN_UNKNOWN",
  tokenLimit: "TENANT_TOKEN_LIMIT",
  decommissioned: "TENANT_DECOMMISSIONED",
} as const;

const BEARER = /^Bearer\s+(\S+)$/i;

/** The one answer a tenant token gets on another tenant. */
const otherTenant = () => new ApiError(403, TenantTokenErrorCode.otherTenant, "a tenant token acts only on its own tenant");
const invalidToken = () => new ApiError(401, ApiErrorCode.authInvalid, "the bearer token is not valid", { "www-authenticate": "Bearer" });

/**
 * Requires a bearer token of one of the scopes (admin always passes). A
 * tenant token passes a `tenant` route of its own tenant only.
 */
export function createAuth(service: GovernorService, credentials: Credentials): Auth {
  return (...allowed) =>
    async (req) => {
      const header = req.headers.authorization;
      if (header === undefined) throw new ApiError(401, ApiErrorCode.authMissing, "send Authorization: Bearer <token>", { "www-authenticate": "Bearer" });
      const match = BEARER.exec(header);
      if (match === null) throw new ApiError(401, ApiErrorCode.authMissing, "the Authorization header must be 'Bearer <token>'", { "www-authenticate": "Bearer" });
      // One digest of the presented token serves both lookups: platform scopes, then tenant tokens.
      const digest = bearerDigest(match[1]!);
      const scope = scopeOfDigest(credentials, digest);
      if (scope === null) return authTenantToken(service, req, digest, allowed);
      if (scope !== "admin" && !allowed.includes(scope)) {
        throw new ApiError(403, ApiErrorCode.authScope, `this needs a token with scope ${["admin", ...allowed].join(" or ")}; yours has ${scope}`);
      }
      req.scope = scope;
    };
}

/**
 * Checks a bearer token that is no platform token: a tenant token passes a
 * route that allows `tenant` on its own tenant's path only. Throws the API
 * error to answer otherwise.
 */
function authTenantToken(service: GovernorService, req: FastifyRequest, digest: Buffer, allowed: readonly Scope[]): void {
  const owner = service.tokenOwner(digest.toString("hex"));
  if (owner === null) throw invalidToken();
  if (!allowed.includes("tenant")) {
    throw new ApiError(403, ApiErrorCode.authScope, `this needs a token with scope ${["admin", ...allowed].join(" or ")}; yours is a tenant token`);
  }
  // Compared with the path as routed, before the account is parsed or looked up.
  if ((req.params as { account?: unknown }).account !== owner.account) throw otherTenant();
  // Its own tenant, decommissioned: its tokens were revoked with it (this holds in the gap before that is done).
  if (service.tenantState(owner.account) === "decommissioned") throw invalidToken();
  req.scope = "tenant";
}
