/**
 * No input stops the process: the attacks of issue 15 against the real
 * service. Bodies beyond the JSON limits are refused when parsed (400 and
 * their own code, nothing on the ledger), a params schema that refers to
 * itself is refused when pushed, and a pattern that would backtrack for
 * hours answers at once because it runs on RE2.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entitlementEvent, readLedger, requestDeclaringLength, startService, type Service } from "../support/service.ts";

let svc: Service;
beforeAll(async () => {
  // A body limit above the string limit, so that every JSON bound can be reached over HTTP.
  svc = await startService({ env: { GOVERNOR_BODY_LIMIT_BYTES: String(256 * 1024) } });
});
afterAll(async () => {
  await svc?.kill();
});

const json = async (res: Response) => (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string; issues?: { path: string; message: string }[] } };

/** A policy for SKU `sku` with one action `open` whose params schema is `schema`. */
const policy = (sku: string, schema: unknown) => ({
  sku_id: sku,
  policy_version: "1.0.0",
  actions: { open: { handler: "noop", params_schema: schema } },
  plans: { p: { monthly_actions: 1000, concurrent_actions: 1, max_concurrency: 2, cost_per_slot_usd: "0.00", actions: ["open"] } },
});

async function provision(sku: string, schema: unknown, account: string): Promise<void> {
  const pushed = await svc.request("POST", "/v1/policies?new_sku=true", { token: svc.credentials.tokens.gitops, body: policy(sku, schema) });
  if (pushed.status !== 200) throw new Error(`policy push: HTTP ${pushed.status} ${await pushed.text()}`);
  const provisioned = await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", account, { sku, plan: "p" }));
  expect(provisioned.status).toBe(201);
}

/** Sends a raw body (text or bytes) as JSON with the admin token. */
const raw = (path: string, body: string | Uint8Array) =>
  fetch(`${svc.url}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${svc.credentials.tokens.admin}` }, body });

const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

describe("bodies beyond the JSON limits: 400 with the bound's code, nothing recorded, the process up", () => {
  beforeAll(async () => {
    await provision("open", { type: "object" }, "acme");
  });

  it("params nested 1,000 arrays deep to an open params schema (the attack) → 400 BODY_TOO_DEEP, again and again", async () => {
    const before = await readLedger(svc, "acme");
    for (let i = 0; i < 3; i++) {
      const res = await raw("/v1/tenants/acme/signals", `{"signal_id":"deep-${i}","action":"open","params":{"x":${nested(1000)}}}`);
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.error?.code).toBe("BODY_TOO_DEEP");
      expect(body.error?.message).toMatch(/\$\.params\.x\[0\].* is nested more than 32 levels deep/);
    }
    expect(svc.proc.exitCode).toBeNull();
    expect(await readLedger(svc, "acme")).toEqual(before);
    // The tenant (and the process) go on.
    const ok = await svc.request("POST", "/v1/tenants/acme/signals", { body: { signal_id: "after-deep", action: "open", params: { x: [[[1]]] } } });
    expect(ok.status).toBe(202);
  });

  const cases: [string, () => string | Uint8Array, number, string][] = [
    ["more than 10,000 members", () => `{"signal_id":"many","action":"open","params":{"x":[${Array.from({ length: 10_001 }, () => "0").join(",")}]}}`, 400, "BODY_TOO_MANY_MEMBERS"],
    ["a string of 65,537 characters", () => `{"signal_id":"long","action":"open","params":{"x":"${"y".repeat(65_537)}"}}`, 400, "BODY_STRING_TOO_LONG"],
    ["a member name of 65,537 characters", () => `{"signal_id":"longname","action":"open","params":{"${"y".repeat(65_537)}":1}}`, 400, "BODY_STRING_TOO_LONG"],
    ["a number that overflows to Infinity", () => `{"signal_id":"inf","action":"open","params":{"x":1e400}}`, 400, "BODY_NUMBER_OUT_OF_RANGE"],
    ["an integer a double cannot hold", () => `{"signal_id":"big","action":"open","params":{"x":12345678901234567890}}`, 400, "BODY_NUMBER_OUT_OF_RANGE"],
    ["a member name twice", () => `{"signal_id":"dup","action":"open","params":{"x":1},"params":{"y":2}}`, 400, "BODY_DUPLICATE_MEMBER"],
    ["bytes that are not UTF-8", () => Buffer.concat([Buffer.from('{"signal_id":"utf","action":"open","params":{"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]), 400, "BODY_INVALID_JSON"],
    ["a body over GOVERNOR_BODY_LIMIT_BYTES", () => `{"signal_id":"huge","action":"open","params":{"x":"${"y".repeat(300 * 1024)}"}}`, 413, "BODY_TOO_LARGE"],
  ];
  for (const [what, body, status, code] of cases) {
    it(`${what} → ${status} ${code}`, async () => {
      const before = await readLedger(svc, "acme");
      const res = await raw("/v1/tenants/acme/signals", body());
      expect(res.status).toBe(status);
      expect((await json(res)).error?.code).toBe(code);
      expect(await readLedger(svc, "acme")).toEqual(before);
    });
  }

  it("bounds every route: a webhook and a policy push nested too deep are refused the same way", async () => {
    const hook = await svc.webhook({ eventId: "e", eventType: "ENTITLEMENT_ACTIVE", entitlement: JSON.parse(`{"x":${nested(100)}}`) as unknown });
    expect(hook.status).toBe(400);
    expect((await json(hook)).error?.code).toBe("BODY_TOO_DEEP");
    const push = await raw("/v1/policies", `{"sku_id":"open","policy_version":"2.0.0","actions":${nested(40)}}`);
    expect(push.status).toBe(400);
    expect((await json(push)).error?.code).toBe("BODY_TOO_DEEP");
  });
});

describe("params schemas are checked when a policy is pushed", () => {
  it("a schema that refers to itself → 400 POLICY_INVALID with the path of the $ref, nothing applied; a → b → a too", async () => {
    const self = await svc.request("POST", "/v1/policies?new_sku=true", { token: svc.credentials.tokens.gitops, body: policy("cyclic", { $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" }) });
    expect(self.status).toBe(400);
    const body = await json(self);
    expect(body.error?.code).toBe("POLICY_INVALID");
    expect(body.error?.issues?.map((i) => i.path)).toEqual(["actions.open.params_schema.$defs.a.$ref"]);
    expect(body.error?.message).toMatch(/leads back to where it started/);
    const indirect = await svc.request("POST", "/v1/policies?new_sku=true", {
      token: svc.credentials.tokens.gitops,
      body: policy("cyclic", { $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" }),
    });
    expect(indirect.status).toBe(400);
    expect((await json(indirect)).error?.issues?.[0]?.path).toMatch(/^actions\.open\.params_schema\.\$defs\.[ab]\.\$ref$/);
    const skus = await json(await svc.request("GET", "/v1/policies", { token: svc.credentials.tokens.gitops }));
    expect(JSON.stringify(skus)).not.toContain("cyclic");
  });

  it("^(a+)+$ pushes, and a signal with a string that almost matches answers at once (RE2, linear time)", async () => {
    await provision("redos", { type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } }, "victim");
    // 2^60 steps for a backtracking engine: if this answer comes at all, the pattern did not backtrack.
    const evil = await svc.request("POST", "/v1/tenants/victim/signals", { body: { signal_id: "evil", action: "open", params: { s: `${"a".repeat(60)}!` } } });
    expect(evil.status).toBe(400);
    expect((await json(evil)).error?.code).toBe("SIGNAL_INVALID_PARAMS");
    const fine = await svc.request("POST", "/v1/tenants/victim/signals", { body: { signal_id: "fine", action: "open", params: { s: "aaaa" } } });
    expect(fine.status).toBe(202);
  });

  it("a pattern RE2 does not run is refused with its path", async () => {
    const res = await svc.request("POST", "/v1/policies?new_sku=true", { token: svc.credentials.tokens.gitops, body: policy("backref", { type: "object", properties: { s: { type: "string", pattern: "^(a)\\1$" } } }) });
    expect(res.status).toBe(400);
    expect((await json(res)).error?.issues?.[0]).toMatchObject({ path: "actions.open.params_schema.properties.s.pattern", message: expect.stringContaining("RE2") as unknown });
  });

  it("a policy document over 1 MiB → 413 BODY_TOO_LARGE naming the policy limit", async () => {
    const res = await requestDeclaringLength(svc, "POST", "/v1/policies?new_sku=true", { token: svc.credentials.tokens.gitops, declaredBytes: 1024 * 1024 + 1 });
    expect(res.status).toBe(413);
    expect((JSON.parse(res.body) as { error: unknown }).error).toMatchObject({ code: "BODY_TOO_LARGE", message: expect.stringContaining("1048576 bytes (the policy document limit)") as unknown });
  });
});
