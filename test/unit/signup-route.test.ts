/**
 * `POST /v1/marketplace/signup` over a service double, in-process: the form
 * Google's page posts, JSON, and every body the route refuses before the
 * service sees it. Form bodies stay this route's alone.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { GovernorService } from "../../src/app/governor-service.ts";
import type { SignupOutcome } from "../../src/app/signup.ts";
import type { Credentials } from "../../src/credentials.ts";
import { buildHttpServer } from "../../src/ingress/http/server.ts";

const credentials: Credentials = { tokens: new Map(), webhookSecrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], signers: [], source: "test" };
const settings = { bodyLimitBytes: 64 * 1024, retryAfterS: 7, webhookToleranceS: 300 };

const ok: SignupOutcome = {
  status: 200,
  body: { procurement_account_id: "acct-1", tenants: ["ent-1"], approved: true, approved_now: true, receipt: { ledger: "_platform", seq: 3, operation: "marketplace_signup", hash: "ab".repeat(32) } },
};

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

function server(outcome: SignupOutcome = ok) {
  const tokens: string[] = [];
  const service = {
    accepting: true,
    degraded: false,
    now: () => Date.now(),
    tenantCounts: () => ({}),
    health: () => ({ degraded: false, store: "ok" }),
    marketplaceSignup: (token: string) => {
      tokens.push(token);
      return Promise.resolve(outcome);
    },
  } as unknown as GovernorService;
  const { app } = buildHttpServer(service, { settings, credentials, logger: pino({ level: "silent" }) });
  apps.push(app);
  return { app, tokens };
}

const form = (payload: string | Buffer, contentType = "application/x-www-form-urlencoded") => ({
  method: "POST" as const,
  url: "/v1/marketplace/signup",
  headers: { "content-type": contentType },
  payload,
});

describe("POST /v1/marketplace/signup", () => {
  it("takes the form field Google posts, with no bearer token, and answers the service's 200", async () => {
    const { app, tokens } = server();
    const res = await app.inject(form("x-gcp-marketplace-token=eyJh.eyJz.c2ln&other=1"));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(ok.status === 200 ? ok.body : null);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(tokens).toEqual(["eyJh.eyJz.c2ln"]);
  });

  it("takes the form with a charset, and percent-encoding decoded", async () => {
    const { app, tokens } = server();
    const res = await app.inject(form("x-gcp-marketplace-token=a%2Eb%2Ec", "application/x-www-form-urlencoded; charset=UTF-8"));
    expect(res.statusCode).toBe(200);
    expect(tokens).toEqual(["a.b.c"]);
  });

  it("takes JSON with the same member", async () => {
    const { app, tokens } = server();
    const res = await app.inject(form(JSON.stringify({ "x-gcp-marketplace-token": "eyJh.eyJz.c2ln" }), "application/json"));
    expect(res.statusCode).toBe(200);
    expect(tokens).toEqual(["eyJh.eyJz.c2ln"]);
  });

  it("a missing, empty or repeated field: 400 SIGNUP_TOKEN_MISSING, the service not asked", async () => {
    const { app, tokens } = server();
    for (const [payload, type] of [
      ["other=1", undefined],
      ["x-gcp-marketplace-token=", undefined],
      ["x-gcp-marketplace-token=a&x-gcp-marketplace-token=b", undefined],
      ["{}", "application/json"],
      ['{"x-gcp-marketplace-token":42}', "application/json"],
    ] as const) {
      const res = await app.inject(form(payload, type));
      expect([res.statusCode, res.json().error.code]).toEqual([400, "SIGNUP_TOKEN_MISSING"]);
    }
    const bare = await app.inject({ method: "POST", url: "/v1/marketplace/signup" });
    expect([bare.statusCode, bare.json().error.code]).toEqual([400, "SIGNUP_TOKEN_MISSING"]);
    expect(tokens).toEqual([]);
  });

  it("an oversized body: 413 BODY_TOO_LARGE, the service not asked", async () => {
    const { app, tokens } = server();
    const res = await app.inject(form(`x-gcp-marketplace-token=${"a".repeat(17 * 1024)}`));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ error: { code: "BODY_TOO_LARGE", message: "the sign-up body is larger than 16384 bytes" } });
    expect(tokens).toEqual([]);
  });

  it("another media type: 415 naming the two it takes", async () => {
    const { app } = server();
    const res = await app.inject(form("x-gcp-marketplace-token=a", "text/plain"));
    expect(res.statusCode).toBe(415);
    expect(res.json().error.message).toContain("application/x-www-form-urlencoded");
  });

  it("answers the service's refusal with its status, code and Retry-After", async () => {
    const { app } = server({ status: 503, code: "PROCUREMENT_API_UNAVAILABLE", message: "try later", retryAfterS: 9 });
    const res = await app.inject(form("x-gcp-marketplace-token=t"));
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("9");
    expect(res.json()).toEqual({ error: { code: "PROCUREMENT_API_UNAVAILABLE", message: "try later" } });
    const bad = await server({ status: 401, code: "SIGNUP_TOKEN_EXPIRED", message: "expired" }).app.inject(form("x-gcp-marketplace-token=t"));
    expect([bad.statusCode, bad.json().error.code]).toEqual([401, "SIGNUP_TOKEN_EXPIRED"]);
  });

  it("404 SIGNUP_NOT_CONFIGURED when the service says so", async () => {
    const { app } = server({ status: 404, code: "SIGNUP_NOT_CONFIGURED", message: "set GOVERNOR_SIGNUP_AUDIENCE" });
    const res = await app.inject(form("x-gcp-marketplace-token=t"));
    expect([res.statusCode, res.json().error.code]).toEqual([404, "SIGNUP_NOT_CONFIGURED"]);
  });

  it("form bodies stay this route's: elsewhere a form is still 415", async () => {
    const { app } = server();
    const res = await app.inject({ method: "POST", url: "/v1/marketplace/events", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: "a=1" });
    expect(res.statusCode).toBe(415);
  });
});
