/**
 * The sign-up token verifier against a stand-in issuer over real HTTP: what
 * Google's token must be to pass, each way one fails (with its stable code,
 * and nothing of the token in the message), and how the certificates are
 * cached and refreshed, on a clock the test moves.
 */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSignupTokenVerifier } from "../../src/adapters/gcp/signup-token.ts";
import { SignupTokenError, type SignupTokenVerifier } from "../../src/ports/index.ts";
import { startSignupIssuer, type SignupIssuer } from "../support/signup-issuer.ts";

const audience = "signup.example.com";
const T0 = Date.UTC(2026, 11, 4, 1, 0, 0);

let issuer: SignupIssuer;
let nowMs = T0;
const nowS = () => Math.floor(nowMs / 1000);

beforeAll(async () => {
  issuer = await startSignupIssuer(audience);
});
afterAll(async () => {
  await issuer.close();
});
beforeEach(() => {
  nowMs = T0;
  issuer.down = false;
  issuer.body = null;
  issuer.cacheControl = "public, max-age=3600";
});

const verifier = (options: { minRefreshMs?: number; certsUrl?: string } = {}): SignupTokenVerifier =>
  createSignupTokenVerifier({ certsUrl: options.certsUrl ?? issuer.url, audience, now: () => nowMs, ...(options.minRefreshMs === undefined ? {} : { minRefreshMs: options.minRefreshMs }) });

/** The error a verification ends in (fails the test if it passes). */
async function refusal(v: SignupTokenVerifier, token: string): Promise<SignupTokenError> {
  const err = await v.verify(token).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SignupTokenError);
  const e = err as SignupTokenError;
  for (const part of token.split(".")) if (part.length > 8) expect(e.message).not.toContain(part);
  return e;
}

describe("a sign-up token as Google issues it", () => {
  it("verifies and yields the account, the orders and the user", async () => {
    const token = await issuer.sign({ sub: "E-1234-ABCD", google: { user_identity: "1234567890", roles: ["account_admin"], orders: ["ent-1", "ent-2"] } }, nowS());
    expect(await verifier().verify(token)).toEqual({ accountId: "E-1234-ABCD", orders: ["ent-1", "ent-2"], userIdentity: "1234567890" });
  });

  it("takes a token without the google claims", async () => {
    const token = await issuer.sign({ sub: "acct-1" }, nowS());
    expect(await verifier().verify(token)).toEqual({ accountId: "acct-1", orders: [], userIdentity: null });
  });

  it("cannot be built without an audience", () => {
    expect(() => createSignupTokenVerifier({ certsUrl: issuer.url, audience: "", now: () => nowMs })).toThrow("audience");
  });

  it("accepts an iat a little in the future (clock skew)", async () => {
    const token = await issuer.sign({ sub: "acct-1" }, nowS() + 20);
    expect((await verifier().verify(token)).accountId).toBe("acct-1");
  });
});

describe("a token that must be refused", () => {
  it("expired: SIGNUP_TOKEN_EXPIRED", async () => {
    const token = await issuer.sign({ sub: "acct-1", exp: nowS() - 120 }, nowS() - 600);
    const e = await refusal(verifier(), token);
    expect([e.code, e.retryable]).toEqual(["SIGNUP_TOKEN_EXPIRED", false]);
  });

  it("issued more than an hour ago, even with a far exp: SIGNUP_TOKEN_EXPIRED", async () => {
    const token = await issuer.sign({ sub: "acct-1", exp: nowS() + 86_400 }, nowS() - 7200);
    expect((await refusal(verifier(), token)).code).toBe("SIGNUP_TOKEN_EXPIRED");
  });

  it("issued in the future beyond the skew: SIGNUP_TOKEN_INVALID", async () => {
    const token = await issuer.sign({ sub: "acct-1" }, nowS() + 600);
    const e = await refusal(verifier(), token);
    expect(e.code).toBe("SIGNUP_TOKEN_INVALID");
    expect(e.message).toContain("iat");
  });

  it("for another audience: SIGNUP_TOKEN_AUDIENCE", async () => {
    const token = await issuer.sign({ sub: "acct-1", aud: "other-partner.example.com" }, nowS());
    expect((await refusal(verifier(), token)).code).toBe("SIGNUP_TOKEN_AUDIENCE");
  });

  it("from another issuer: SIGNUP_TOKEN_ISSUER", async () => {
    const token = await issuer.sign({ sub: "acct-1", iss: "https://accounts.example.com" }, nowS());
    expect((await refusal(verifier(), token)).code).toBe("SIGNUP_TOKEN_ISSUER");
  });

  it("signed by another key under a published kid: SIGNUP_TOKEN_INVALID", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const token = await issuer.sign({ sub: "acct-1" }, nowS(), { key: privateKey });
    const e = await refusal(verifier(), token);
    expect(e.code).toBe("SIGNUP_TOKEN_INVALID");
    expect(e.message).toContain("signature");
  });

  it("with a payload changed after signing: SIGNUP_TOKEN_INVALID", async () => {
    const [h, , s] = (await issuer.sign({ sub: "acct-1" }, nowS())).split(".");
    const forged = Buffer.from(JSON.stringify({ iss: issuer.url, aud: audience, iat: nowS(), exp: nowS() + 300, sub: "someone-else" })).toString("base64url");
    expect((await refusal(verifier(), `${h}.${forged}.${s}`)).code).toBe("SIGNUP_TOKEN_INVALID");
  });

  it("alg none or HS256: SIGNUP_TOKEN_INVALID, and no certificate is fetched for it", async () => {
    const v = verifier();
    const before = issuer.fetches;
    for (const alg of ["none", "HS256"] as const) {
      const e = await refusal(v, await issuer.sign({ sub: "acct-1" }, nowS(), { alg }));
      expect(e.code).toBe("SIGNUP_TOKEN_INVALID");
      expect(e.message).toContain("RS256");
    }
    expect(issuer.fetches).toBe(before);
  });

  it("no kid, malformed, or too long: SIGNUP_TOKEN_INVALID", async () => {
    const v = verifier();
    expect((await refusal(v, await issuer.sign({ sub: "acct-1" }, nowS(), { noKid: true }))).code).toBe("SIGNUP_TOKEN_INVALID");
    expect((await refusal(v, "not a token")).code).toBe("SIGNUP_TOKEN_INVALID");
    expect((await refusal(v, "e30.e30.")).code).toBe("SIGNUP_TOKEN_INVALID");
    expect((await refusal(v, "bm90IGpzb24.bm90IGpzb24.c2ln")).code).toBe("SIGNUP_TOKEN_INVALID");
    const long = await issuer.sign({ sub: "acct-1", padding: "x".repeat(9000) }, nowS());
    const e = await refusal(v, long);
    expect([e.code, e.message]).toEqual(["SIGNUP_TOKEN_INVALID", "the sign-up token is longer than 8192 bytes"]);
  });

  it("claims out of bounds: a sub that is not an id, no sub, more than 100 orders", async () => {
    const v = verifier();
    for (const claims of [{ sub: "../../etc" }, { sub: "a".repeat(300) }, {}, { sub: "acct-1", google: { orders: Array.from({ length: 101 }, (_, i) => `o${i}`) } }]) {
      expect((await refusal(v, await issuer.sign(claims, nowS()))).code).toBe("SIGNUP_TOKEN_INVALID");
    }
  });
});

describe("the certificates", () => {
  it("are fetched once and kept for the response's max-age", async () => {
    issuer.cacheControl = "public, max-age=120, must-revalidate, no-transform";
    const v = verifier();
    const start = issuer.fetches;
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    await v.verify(await issuer.sign({ sub: "acct-2" }, nowS()));
    expect(issuer.fetches).toBe(start + 1);
    nowMs += 119_000;
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    expect(issuer.fetches).toBe(start + 1);
    nowMs += 2000;
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    expect(issuer.fetches).toBe(start + 2);
  });

  it("are kept an hour without Cache-Control", async () => {
    issuer.cacheControl = null;
    const v = verifier();
    const start = issuer.fetches;
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    nowMs += 3599_000;
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    expect(issuer.fetches).toBe(start + 1);
    nowMs += 2000;
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    expect(issuer.fetches).toBe(start + 2);
  });

  it("a key rotated in after they were read: one refresh, then the token verifies", async () => {
    const v = verifier();
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    const start = issuer.fetches;
    nowMs += 61_000;
    const kid = issuer.rotate();
    expect(await v.verify(await issuer.sign({ sub: "acct-1" }, nowS(), { kid }))).toMatchObject({ accountId: "acct-1" });
    expect(issuer.fetches).toBe(start + 1);
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS(), { kid }));
    expect(issuer.fetches).toBe(start + 1);
  });

  it("a flood of unknown kids: at most one fetch per minRefreshMs", async () => {
    const v = verifier({ minRefreshMs: 60_000 });
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const flood = async (n: number) => {
      const tokens = await Promise.all(Array.from({ length: n }, (_, i) => issuer.sign({ sub: "acct-1" }, nowS(), { kid: `made-up-${i}`, key: privateKey })));
      const codes = await Promise.all(tokens.map(async (t) => (await refusal(v, t)).code));
      expect(new Set(codes)).toEqual(new Set(["SIGNUP_TOKEN_INVALID"]));
    };
    const start = issuer.fetches;
    await flood(40); // within a minute of the first fetch: none
    expect(issuer.fetches).toBe(start);
    nowMs += 60_000;
    await flood(40); // concurrent: one fetch between them
    expect(issuer.fetches).toBe(start + 1);
    nowMs += 30_000;
    await flood(40);
    expect(issuer.fetches).toBe(start + 1);
    nowMs += 30_000;
    await flood(5);
    expect(issuer.fetches).toBe(start + 2);
  });

  it("an endpoint that is down: SIGNUP_KEYS_UNAVAILABLE (retryable), then tokens verify once it answers", async () => {
    issuer.down = true;
    const v = verifier();
    const token = await issuer.sign({ sub: "acct-1" }, nowS());
    const e = await refusal(v, token);
    expect([e.code, e.retryable]).toEqual(["SIGNUP_KEYS_UNAVAILABLE", true]);
    expect(e.message).toContain("HTTP 503");
    issuer.down = false;
    nowMs += 60_000;
    expect((await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()))).accountId).toBe("acct-1");
  });

  it("an endpoint that does not answer at all, or answers garbage: SIGNUP_KEYS_UNAVAILABLE", async () => {
    const token = await issuer.sign({ sub: "acct-1" }, nowS());
    expect((await refusal(verifier({ certsUrl: "http://127.0.0.1:1/certs" }), token)).code).toBe("SIGNUP_KEYS_UNAVAILABLE");
    for (const body of ["<html>", "[]", JSON.stringify({ k: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }), JSON.stringify({ k: "x".repeat(70_000) })]) {
      issuer.body = body;
      expect((await refusal(verifier(), token)).code).toBe("SIGNUP_KEYS_UNAVAILABLE");
    }
  });

  it("a refresh that fails keeps the certificates last read", async () => {
    issuer.cacheControl = "max-age=60";
    const v = verifier();
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()));
    const start = issuer.fetches;
    issuer.down = true;
    nowMs += 120_000;
    expect((await v.verify(await issuer.sign({ sub: "acct-1" }, nowS()))).accountId).toBe("acct-1");
    expect(issuer.fetches).toBe(start + 1);
  });

  it("a key Google retired stops verifying once the certificates are read again", async () => {
    issuer.cacheControl = "max-age=60";
    const v = verifier();
    const old = issuer.kid;
    const next = issuer.rotate();
    await v.verify(await issuer.sign({ sub: "acct-1" }, nowS(), { kid: old }));
    issuer.retire(old);
    nowMs += 61_000;
    expect((await refusal(v, await issuer.sign({ sub: "acct-1" }, nowS(), { kid: old }))).code).toBe("SIGNUP_TOKEN_INVALID");
    expect((await v.verify(await issuer.sign({ sub: "acct-1" }, nowS(), { kid: next }))).accountId).toBe("acct-1");
  });
});
