/**
 * The sign-up token Google Cloud Marketplace posts to the partner's sign-up
 * URL (the form field `x-gcp-marketplace-token`), checked as Google
 * documents it ("Integrate your app's frontend"): a JWT signed RS256 with a
 * key whose X.509 certificate is published, under the header's `kid`, in the
 * JSON map at the issuer's URL; `iss` is that URL, `aud` the partner's
 * sign-up domain, `exp` not passed, `iat` not in the future; `sub` is the
 * procurement account id and `google.orders` the orders (entitlements) the
 * customer bought.
 *
 * jose checks the signature and the claims; this file only finds the key.
 * The certificates are fetched and cached for the response's `max-age` (else
 * an hour). A `kid` the cache does not hold refreshes it, at most once per
 * `minRefreshMs`, so a flood of tokens naming made-up keys costs Google one
 * request a minute; a refresh that fails keeps the certificates last read.
 */
import { errors, importX509, jwtVerify, type CryptoKey, type JWTHeaderParameters } from "jose";
import { z } from "zod";
import { SignupTokenError, SignupTokenErrorCode, type SignupTokenVerifier } from "../../ports/index.ts";

export interface SignupTokenVerifierOptions {
  /** Where the signing certificates are published; also the token's expected `iss`. */
  readonly certsUrl: string;
  /** The expected `aud`: the partner's sign-up domain. */
  readonly audience: string;
  /** Epoch ms. */
  readonly now: () => number;
  /** Deadline of one certificate fetch (default 5 s). */
  readonly fetchTimeoutMs?: number;
  /** The least time between two certificate fetches (default 60 s). */
  readonly minRefreshMs?: number;
}

/** Google's tokens are a few hundred bytes; nothing parses more than this. */
export const MAX_SIGNUP_TOKEN_BYTES = 8 * 1024;
/** Clocks disagree a little: `exp` and `iat` are checked with this much slack. */
const CLOCK_SKEW_S = 30;
/** The token is posted as the buyer leaves the Marketplace; one issued longer ago than this is not a fresh sign-up. */
const MAX_TOKEN_AGE_S = 3600;
const DEFAULT_MAX_AGE_MS = 3600_000;
/** A `max-age` longer than a day is cut to a day, so a rotated key is never trusted for long after Google drops it. */
const LONGEST_MAX_AGE_MS = 86_400_000;
const MAX_CERTS_BYTES = 64 * 1024;
const MAX_CERTS = 32;

const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const safeId = /^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/;

const Claims = z.looseObject({
  sub: z.string().regex(safeId, "expected a procurement account id"),
  google: z
    .looseObject({
      user_identity: z.string().min(1).max(256).optional(),
      orders: z.array(z.string().regex(safeId, "expected an order id")).max(100).optional(),
    })
    .optional(),
});

const CertMap = z.record(z.string().min(1).max(256), z.string().min(1).max(16 * 1024));

/** The certificates read at one time, by `kid`. */
interface CertCache {
  readonly keys: ReadonlyMap<string, CryptoKey>;
  readonly expiresAt: number;
}

/** Builds the verifier; certificates are fetched on the first token. @throws {TypeError} when the audience is empty */
export function createSignupTokenVerifier(options: SignupTokenVerifierOptions): SignupTokenVerifier {
  // An empty audience would make every partner's token ours: sign-up is then not configured at all.
  if (options.audience === "") throw new TypeError("createSignupTokenVerifier: the audience (the sign-up domain) is empty");
  const certs = new CertSource(options);
  return {
    async verify(token) {
      if (token.length > MAX_SIGNUP_TOKEN_BYTES) throw invalid(`the sign-up token is longer than ${MAX_SIGNUP_TOKEN_BYTES} bytes`);
      if (!compactJws.test(token)) throw invalid("the sign-up token is not a JWT (three base64url parts separated by '.')");
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, (header: JWTHeaderParameters) => certs.key(header.kid), {
          algorithms: ["RS256"],
          issuer: options.certsUrl,
          audience: options.audience,
          requiredClaims: ["exp", "iat", "sub"],
          maxTokenAge: MAX_TOKEN_AGE_S,
          clockTolerance: CLOCK_SKEW_S,
          currentDate: new Date(options.now()),
        }));
      } catch (err) {
        throw refusal(err);
      }
      const claims = Claims.safeParse(payload);
      if (!claims.success) {
        const issue = claims.error.issues[0];
        throw invalid(`the sign-up token's claims are not usable: ${issue?.path.join(".") ?? "claims"}: ${issue?.message ?? "invalid"}`);
      }
      const { sub, google } = claims.data;
      return { accountId: sub, orders: google?.orders ?? [], userIdentity: google?.user_identity ?? null };
    },
  };
}

/** The Google certificates, cached, refreshed on expiry or on an unknown `kid` (bounded). */
class CertSource {
  readonly #o: Required<SignupTokenVerifierOptions>;
  #cache: CertCache | null = null;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #lastFailure = "";
  #fetching: Promise<void> | null = null;

  constructor(options: SignupTokenVerifierOptions) {
    this.#o = { fetchTimeoutMs: 5000, minRefreshMs: 60_000, ...options };
  }

  async key(kid: string | undefined): Promise<CryptoKey> {
    if (kid === undefined || kid.length === 0 || kid.length > 256) throw invalid("the sign-up token names no usable signing key (header kid)");
    const cache = this.#cache;
    if (cache === null || this.#o.now() >= cache.expiresAt || !cache.keys.has(kid)) await this.#refresh();
    const keys = this.#cache?.keys;
    if (keys === undefined) {
      throw new SignupTokenError(
        SignupTokenErrorCode.keysUnavailable,
        `the sign-up token cannot be checked now: Google's signing certificates could not be fetched (${this.#lastFailure}); try again later`,
      );
    }
    const key = keys.get(kid);
    if (key === undefined) throw invalid("the sign-up token's signing key (header kid) is not one of the issuer's certificates");
    return key;
  }

  /** Fetches the certificates unless a fetch is under way (then waits for it) or the last began less than minRefreshMs ago. */
  async #refresh(): Promise<void> {
    if (this.#fetching === null) {
      const now = this.#o.now();
      if (now - this.#lastAttempt < this.#o.minRefreshMs) return;
      this.#lastAttempt = now;
      this.#fetching = this.#fetch().finally(() => (this.#fetching = null));
    }
    await this.#fetching;
  }

  async #fetch(): Promise<void> {
    try {
      const res = await fetch(this.#o.certsUrl, { signal: AbortSignal.timeout(this.#o.fetchTimeoutMs), redirect: "error", headers: { accept: "application/json" } });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      const parsed = CertMap.safeParse(JSON.parse(await readBounded(res, MAX_CERTS_BYTES)));
      if (!parsed.success) throw new Error("the answer is not a map of key ids to certificates");
      const entries = Object.entries(parsed.data);
      if (entries.length > MAX_CERTS) throw new Error(`the answer holds more than ${MAX_CERTS} certificates`);
      const keys = new Map<string, CryptoKey>();
      for (const [kid, pem] of entries) {
        // A certificate that does not import is left out; the others still verify tokens.
        const key = await importX509(pem, "RS256").catch(() => null);
        if (key !== null) keys.set(kid, key);
      }
      if (keys.size === 0) throw new Error("no certificate in the answer could be read");
      this.#cache = { keys, expiresAt: this.#o.now() + maxAgeMs(res.headers.get("cache-control")) };
    } catch (err) {
      this.#lastFailure = failureOf(err);
    }
  }
}

/** The response's `max-age` (ms, at most a day), else an hour. */
function maxAgeMs(cacheControl: string | null): number {
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?\s*(?:,|$)/i.exec(cacheControl ?? "");
  return m === null ? DEFAULT_MAX_AGE_MS : Math.min(Number(m[1]) * 1000, LONGEST_MAX_AGE_MS);
}

/** The body as text, refused past `limit` bytes before more of it is read. */
async function readBounded(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await res.body?.cancel();
    throw new Error(`the answer is larger than ${limit} bytes`);
  }
  const reader = res.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`the answer is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
}

function failureOf(err: unknown): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) return "no answer in time";
  if (err instanceof SyntaxError) return "the answer is not JSON";
  return err instanceof Error ? err.message.slice(0, 200) : "unknown failure";
}

function invalid(message: string): SignupTokenError {
  return new SignupTokenError(SignupTokenErrorCode.invalid, message);
}

/** jose's refusal as ours, in our words (jose's never echo the token either, but ours name the claim). */
function refusal(err: unknown): SignupTokenError {
  if (err instanceof SignupTokenError) return err;
  if (err instanceof errors.JWTExpired) return new SignupTokenError(SignupTokenErrorCode.expired, `the sign-up token has expired (${err.claim === "iat" ? "issued more than an hour ago" : "exp has passed"}); sign up again from the Marketplace`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud") return new SignupTokenError(SignupTokenErrorCode.audience, "the sign-up token is for another audience (aud is not this sign-up domain)");
    if (err.claim === "iss") return new SignupTokenError(SignupTokenErrorCode.issuer, "the sign-up token was not issued by Google Cloud Marketplace (iss)");
    return invalid(err.reason === "missing" ? `the sign-up token has no "${err.claim}" claim` : `the sign-up token's "${err.claim}" claim fails its check${err.claim === "iat" ? " (issued in the future)" : ""}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid("the sign-up token is not signed with RS256");
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid("the sign-up token's signature does not verify");
  return invalid("the sign-up token is malformed");
}
