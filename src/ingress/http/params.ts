/** Reading a request's path and headers, and naming receipts in replies. */
import type { FastifyRequest } from "fastify";
import { accountIdPattern, PLATFORM_LEDGER, type LedgerId } from "../../ledger/receipt.ts";
import { ApiError, ApiErrorCode } from "./errors.ts";

/** The `:account` of the path, checked as an account id (the platform ledger's name too when `allowPlatform`). */
export function accountParam(req: FastifyRequest, allowPlatform = false): LedgerId {
  const account = (req.params as { account: string }).account;
  if (allowPlatform && account === PLATFORM_LEDGER) return account as LedgerId;
  if (!accountIdPattern.test(account)) {
    throw new ApiError(400, ApiErrorCode.queryInvalid, `"${account.slice(0, 64)}" is not an account id (letters, digits, '.', '_', '-'; max 128)`);
  }
  return account as LedgerId;
}

/** A header's first value. */
export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** How a reply names a receipt (the app's own reference: the marketplace answers name receipts the same way). */
export { receiptRef } from "../../app/governor-service.ts";

/** The unknown-tenant answer. */
export const unknownTenant = (account: string) => new ApiError(404, ApiErrorCode.tenantUnknown, `no tenant "${account}" is provisioned here`);
