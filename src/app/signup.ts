/**
 * Sign-up from Google Cloud Marketplace: the buyer's browser posts the token
 * Google signed (`x-gcp-marketplace-token`); once it verifies, the
 * procurement account it names is approved at the Partner Procurement API
 * (`approvalName: "signup"`) and a `marketplace_signup` receipt on the
 * platform ledger links the account to its tenants (one per entitlement).
 *
 * A token that does not verify calls nothing and records nothing. The
 * approval is Google's to keep: a sign-up whose receipt could not be written
 * is answered 503, and the next attempt finds the account approved already
 * and records it then (`approved_now: false`).
 */
import type { Logger } from "pino";
import type { Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import { ref } from "./marketplace.ts";
import { Turns } from "./turns.ts";
import { PortError, ProcurementApiError, type Clock, type ProcurementAccount, type ProcurementApi, type SignupClaims, type SignupTokenVerifier } from "../ports/index.ts";

/** The answer to a sign-up: 200 and what was done, or a refusal with a stable code. */
export type SignupOutcome =
  | {
      readonly status: 200;
      readonly body: {
        readonly procurement_account_id: string;
        readonly tenants: readonly string[];
        readonly approved: true;
        /** False when the account was approved already (a second sign-up, or one retried). */
        readonly approved_now: boolean;
        readonly receipt: { readonly ledger: string; readonly seq: number; readonly operation: string; readonly hash: string };
      };
    }
  | { readonly status: 400 | 401 | 403 | 404 | 502 | 503; readonly code: string; readonly message: string; readonly retryAfterS?: number };

/** The answer when no sign-up audience is configured. */
export const signupNotConfigured: SignupOutcome = {
  status: 404,
  code: "SIGNUP_NOT_CONFIGURED",
  message: "Google Cloud Marketplace sign-up is not configured: set GOVERNOR_SIGNUP_AUDIENCE to the sign-up domain",
};

/** The name Google gives the sign-up's account approval. */
export const SIGNUP_APPROVAL = "signup";
/** What the receipt can name (its schema's bound); an account with more has them all in its tenants' own receipts. */
const MAX_RECEIPT_TENANTS = 100;

/** Status of each token refusal: not Google's token → 401; Google's, for another partner → 403. */
const tokenStatus: Record<string, 401 | 403 | 503> = {
  SIGNUP_TOKEN_INVALID: 401,
  SIGNUP_TOKEN_EXPIRED: 401,
  SIGNUP_TOKEN_ISSUER: 401,
  SIGNUP_TOKEN_AUDIENCE: 403,
  SIGNUP_KEYS_UNAVAILABLE: 503,
};

export interface MarketplaceSignupDeps {
  readonly verifier: SignupTokenVerifier;
  readonly procurement: ProcurementApi;
  /** Writes a platform receipt and waits until it is durable. */
  recordPlatform(draft: ReceiptDraft): Promise<Receipt>;
  /** The tenants (one per entitlement) of a procurement account. */
  tenantsOf(accountId: string): readonly string[];
  readonly clock: Pick<Clock, "now">;
  /** Safe mode: nothing is approved that could not be recorded. */
  readonly health: { readonly degraded: boolean };
  /** Retry-After of a 503. */
  readonly retryAfterS: number;
  readonly logger: Logger;
}

/** Completes sign-ups, one at a time per procurement account. */
export class MarketplaceSignup {
  readonly #d: MarketplaceSignupDeps;
  /** Per account, the sign-up under way: a second one waits and then finds the account approved. */
  /** Sign-ups of one account run one at a time. */
  readonly #turns = new Turns();

  constructor(deps: MarketplaceSignupDeps) {
    this.#d = deps;
  }

  async signup(token: string): Promise<SignupOutcome> {
    if (this.#d.health.degraded) {
      return this.#unavailable("SAFE_MODE", "Governor is in safe mode (its ledger store is failing): the sign-up changed nothing; try again later");
    }
    let claims: SignupClaims;
    try {
      claims = await this.#d.verifier.verify(token);
    } catch (err) {
      return this.#tokenRefused(err);
    }
    return this.#turns.run(claims.accountId, () => this.#complete(claims));
  }

  async #complete(claims: SignupClaims): Promise<SignupOutcome> {
    const { accountId } = claims;
    const started = this.#d.clock.now();
    let approvedNow: boolean;
    try {
      const account = await this.#d.procurement.getAccount(accountId);
      if (account === null) {
        this.#d.logger.warn({ procurement_account_id: accountId }, "sign-up for an account the Procurement API does not know");
        return {
          status: 404,
          code: "PROCUREMENT_ACCOUNT_UNKNOWN",
          message: `the Procurement API does not know account ${accountId}; complete the purchase in the Marketplace first`,
        };
      }
      approvedNow = !signupApproved(account);
      if (approvedNow) await this.#d.procurement.approveAccount(accountId, SIGNUP_APPROVAL);
    } catch (err) {
      return this.#apiFailed(err, accountId);
    }
    const all = this.#d.tenantsOf(accountId);
    if (all.length > MAX_RECEIPT_TENANTS) this.#d.logger.warn({ procurement_account_id: accountId, tenants: all.length }, "sign-up receipt names the first 100 tenants only");
    const tenants = all.slice(0, MAX_RECEIPT_TENANTS);
    let receipt: Receipt;
    try {
      receipt = await this.#d.recordPlatform({
        operation: "marketplace_signup",
        status: "success",
        duration_ms: Math.max(0, Math.round(this.#d.clock.now() - started)),
        procurement_account_id: accountId,
        approval_name: SIGNUP_APPROVAL,
        tenants: [...tenants],
        approved_now: approvedNow,
      });
    } catch (err) {
      if (!(err instanceof PortError && err.retryable) && !this.#d.health.degraded) throw err;
      this.#d.logger.error({ err, procurement_account_id: accountId, approved_now: approvedNow }, "sign-up approved but its receipt could not be written");
      return this.#unavailable("SIGNUP_NOT_DURABLE", "the sign-up could not be recorded (the ledger store is failing); try again later");
    }
    this.#d.logger.info({ procurement_account_id: accountId, approved_now: approvedNow, tenants: tenants.length, orders: claims.orders.length }, "marketplace sign-up recorded");
    return {
      status: 200,
      body: {
        procurement_account_id: accountId,
        tenants,
        approved: true,
        approved_now: approvedNow,
        receipt: ref(receipt),
      },
    };
  }

  #tokenRefused(err: unknown): SignupOutcome {
    const status = err instanceof PortError ? tokenStatus[err.code] : undefined;
    if (status === undefined) throw err;
    const { code, message } = err as PortError;
    this.#d.logger.info({ code }, "sign-up token refused");
    return status === 503 ? this.#unavailable(code, message) : { status, code, message };
  }

  #apiFailed(err: unknown, accountId: string): SignupOutcome {
    if (!(err instanceof ProcurementApiError)) throw err;
    this.#d.logger.warn({ err, procurement_account_id: accountId }, "sign-up: the Procurement API call failed");
    if (err.retryable) return this.#unavailable(err.code, "the Procurement API cannot be reached now: the sign-up changed nothing; try again later");
    return {
      status: 502,
      code: err.code,
      message: `the Procurement API refused the sign-up of account ${accountId}${err.status === null ? "" : ` (HTTP ${err.status})`}; nothing was recorded`,
    };
  }

  #unavailable(code: string, message: string): SignupOutcome {
    return { status: 503, code, message, retryAfterS: this.#d.retryAfterS };
  }


}

/** The account's `signup` approval is granted already. */
function signupApproved(account: ProcurementAccount): boolean {
  return account.approvals.some((a) => a.name === SIGNUP_APPROVAL && a.state === "APPROVED");
}
