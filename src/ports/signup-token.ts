/**
 * Driven port: the check of a Google Cloud Marketplace sign-up token (the
 * JWT Google posts as `x-gcp-marketplace-token`). The gcp adapter
 * (src/adapters/gcp/signup-token.ts) checks it against Google's published
 * certificates.
 */
import { PortError } from "./errors.ts";

/** What a verified sign-up token says. */
export interface SignupClaims {
  /** The procurement account id (`sub`). */
  readonly accountId: string;
  /** The order (entitlement) ids in `google.orders`, when the product takes several orders; else empty. */
  readonly orders: readonly string[];
  /** The buyer's obfuscated Google identity (`google.user_identity`), or null. */
  readonly userIdentity: string | null;
}

export interface SignupTokenVerifier {
  /** @throws SignupTokenError */
  verify(token: string): Promise<SignupClaims>;
}

/** Stable codes of a refused sign-up token. */
export const SignupTokenErrorCode = {
  invalid: "SIGNUP_TOKEN_INVALID",
  expired: "SIGNUP_TOKEN_EXPIRED",
  audience: "SIGNUP_TOKEN_AUDIENCE",
  issuer: "SIGNUP_TOKEN_ISSUER",
  keysUnavailable: "SIGNUP_KEYS_UNAVAILABLE",
} as const;
export type SignupTokenErrorCode = (typeof SignupTokenErrorCode)[keyof typeof SignupTokenErrorCode];

/** A token refused, or (`SIGNUP_KEYS_UNAVAILABLE`, retryable) one that cannot be checked now. Never carries the token. */
export class SignupTokenError extends PortError {
  readonly code: SignupTokenErrorCode;
  readonly retryable: boolean;
  constructor(code: SignupTokenErrorCode, message: string) {
    super(message);
    this.name = "SignupTokenError";
    this.code = code;
    this.retryable = code === SignupTokenErrorCode.keysUnavailable;
  }
}
