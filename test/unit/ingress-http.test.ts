/**
 * The HTTP routes need the GovernorService and nothing below it: driven here
 * in-process (`app.inject()`) over a service double. The end-to-end suites
 * (test/e2e, test/fault) hold the whole API to its contract.
 */
import { createHash } from "node:crypto";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { GovernorService, SignalInput, SignalReply } from "../../src/app/governor-service.ts";
import type { Credentials } from "../../src/credentials.ts";
import { buildHttpServer } from "../../src/ingress/http/server.ts";

const operator = "gov_operator_test-token-0123456789";
const tenantToken = "gov_tenant_acme-0123456789abcdef";
const credentials: Credentials = { tokens: new Map([["operator", operator]]), webhookSecrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], signers: [], source: "test" };
const settings = { bodyLimitBytes: 64 * 1024, retryAfterS: 7, webhookToleranceS: 300 };

function fakeService(reply: SignalReply = { kind: "accepted", actionId: "act-1", state: "running" }) {
  const signals: { account: string; input: SignalInput }[] = [];
  const service = {
    accepting: true,
    degraded: false,
    now: () => Date.now(),
    hasTenant: (account: string) => account === "acme",
    tenantState: (account: string) => (account === "acme" ? "active" : undefined),
    tokenOwner: (digestHex: string) => (digestHex === createHash("sha256").update(tenantToken).digest("hex") ? { account: "acme" } : null),
    signal: (account: string, input: SignalInput) => {
      signals.push({ account, input });
      return Promise.resolve(reply);
    },
    tenantCounts: () => ({ active: 1 }),
    health: () => ({ degraded: false, store: "ok" }),
  } as unknown as GovernorService;
  return { service, signals };
}

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

function server(service: GovernorService) {
  const { app } = buildHttpServer(service, { settings, credentials, logger: pino({ level: "silent" }) });
  apps.push(app);
  return app;
}

const post = (body: string | Buffer, token = tenantToken, account = "acme") => ({
  method: "POST" as const,
  url: `/v1/tenants/${account}/signals`,
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  payload: body,
});

describe("HTTP signals over the service", () => {
  it("answers an accepted signal 202 with its action, and hands the service the decoded body", async () => {
    const { service, signals } = fakeService();
    const res = await server(service).inject(post('{"signal_id":"s1","action":"noop"}'));
    expect(res.statusCode).toBe(202);
    expect(res.body).toBe('{"signal_id":"s1","action_id":"act-1","state":"running"}');
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(signals).toEqual([{ account: "acme", input: { signal_id: "s1", action: "noop", params: {} } }]);
  });

  it("maps a reply the tenant cannot take to its status, code and retry-after", async () => {
    const { service } = fakeService({ kind: "unavailable", reason: "not_durable" });
    const res = await server(service).inject(post('{"signal_id":"s1","action":"noop"}'));
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("7");
    expect(res.json()).toMatchObject({ error: { code: "SIGNAL_NOT_DURABLE" } });
  });

  it("bounds the body before the service sees it: empty, not UTF-8, too deep, a member twice, not JSON", async () => {
    const { service, signals } = fakeService();
    const app = server(service);
    const answer = async (body: string | Buffer) => {
      const res = await app.inject(post(body));
      return [res.statusCode, (res.json() as { error: { code: string; message: string } }).error.code, (res.json() as { error: { message: string } }).error.message];
    };
    expect(await answer("")).toEqual([400, "BODY_INVALID_JSON", "the body is empty; send a JSON object"]);
    expect(await answer(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual([400, "BODY_INVALID_JSON", "the body is not valid UTF-8; JSON text must be UTF-8"]);
    expect((await answer(`{"signal_id":"s1","action":"noop","params":{"x":${"[".repeat(40)}${"]".repeat(40)}}}`)).slice(0, 2)).toEqual([400, "BODY_TOO_DEEP"]);
    expect((await answer('{"signal_id":"s1","signal_id":"s2","action":"noop"}')).slice(0, 2)).toEqual([400, "BODY_DUPLICATE_MEMBER"]);
    expect(await answer("{nope")).toEqual([400, "BODY_INVALID_JSON", expect.stringMatching(/^the body is not valid JSON: /) as unknown]);
    expect(signals).toEqual([]);
  });

  it("refuses another tenant's path, a platform token without the scope, and an unknown tenant, before the service is asked", async () => {
    const { service, signals } = fakeService();
    const app = server(service);
    const other = await app.inject(post('{"signal_id":"s1","action":"noop"}', tenantToken, "globex"));
    expect([other.statusCode, other.json()]).toEqual([403, { error: { code: "AUTH_TENANT_FORBIDDEN", message: "a tenant token acts only on its own tenant" } }]);
    const scope = await app.inject(post('{"signal_id":"s1","action":"noop"}', operator));
    expect(scope.statusCode).toBe(403);
    expect(scope.json()).toMatchObject({ error: { code: "AUTH_SCOPE_FORBIDDEN" } });
    const missing = await app.inject({ ...post('{"signal_id":"s1","action":"noop"}'), headers: { "content-type": "application/json" } });
    expect([missing.statusCode, missing.headers["www-authenticate"]]).toEqual([401, "Bearer"]);
    expect(signals).toEqual([]);
  });
});
