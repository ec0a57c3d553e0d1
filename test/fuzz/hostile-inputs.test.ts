/**
 * Property-based fuzzing of the real service (a child process on the embedded
 * default) with hostile inputs: generated HTTP bodies, signal params, signed
 * webhook payloads and policy documents. The property, for every request:
 * the process stays up, and the answer is a 2xx, or a 4xx with a stable error
 * code and a message. Afterwards every ledger touched verifies offline.
 *
 * fast-check runs with a fixed seed and a bounded number of runs, so a
 * failure is reproducible (the seed and path are in the failure message).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entitlementEvent, scratchDir, startService, verifyExported, type Service } from "../support/service.ts";

const SEED = 20_261_203;
const RUNS = Number(process.env["GOVERNOR_FUZZ_RUNS"] ?? 60);

/** A policy whose `open` action takes any params object: the documented default schema. */
const fuzzPolicy = {
  sku_id: "fuzz",
  policy_version: "1.0.0",
  actions: {
    open: { handler: "noop", timeout_ms: 500 },
    strict: {
      handler: "noop",
      params_schema: { type: "object", properties: { note: { type: "string", maxLength: 64, pattern: "^[a-z]*$" } }, additionalProperties: false },
      timeout_ms: 500,
    },
  },
  plans: { p: { monthly_actions: 1_000_000, concurrent_actions: 16, max_concurrency: 32, cost_per_slot_usd: "0.10", actions: ["open", "strict"] } },
};

const TENANT = "fuzz-tenant";
let service: Service;
/** Tenants a generated webhook provisioned: their ledgers are verified at the end too. */
const provisioned = new Set<string>();

beforeAll(async () => {
  const policies = scratchDir("governor-fuzz-policies-");
  mkdirSync(policies, { recursive: true });
  writeFileSync(join(policies, "fuzz.json"), JSON.stringify(fuzzPolicy));
  service = await startService({ policiesDir: policies, env: { GOVERNOR_SCALE_INTERVAL_MS: "0", GOVERNOR_POLICY_WATCH: "false" } });
  const res = await service.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", TENANT, { sku: "fuzz", plan: "p" }));
  if (res.status !== 201) throw new Error(`provisioning the fuzzed tenant answered ${res.status}: ${await res.text()}`);
});

afterAll(async () => {
  await service?.kill("SIGTERM");
});

// ---- generators ------------------------------------------------------------

/**
 * A large value made only when it is sent (`toJSON`), printed by fast-check
 * as its recipe: a counterexample thousands of levels deep would otherwise
 * overflow the stack of fast-check's own reporting.
 */
class Large {
  readonly #recipe: string;
  readonly #make: () => unknown;
  constructor(recipe: string, make: () => unknown) {
    this.#recipe = recipe;
    this.#make = make;
  }
  toJSON(): unknown {
    return this.#make();
  }
  [fc.toStringMethod](): string {
    return this.#recipe;
  }
}

/** `depth` arrays or objects nested in each other, around a leaf. */
/** Sizes around the limits as well as anywhere (fast-check's integers lean towards small values). */
const size = (edges: number[], max: number) => fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max }));
const nested = fc.record({ depth: size([32, 33, 1_000, 2_000], 2_000), objects: fc.boolean(), leaf: fc.jsonValue({ maxDepth: 1 }) }).map(
  ({ depth, objects, leaf }) =>
    new Large(`${depth} ${objects ? "objects" : "arrays"} deep around ${JSON.stringify(leaf)}`, () => {
      let v: unknown = leaf;
      for (let i = 0; i < depth; i++) v = objects ? { a: v } : [v];
      return v;
    }),
);
const wide = fc.record({ members: size([10_000, 10_001, 20_000], 20_000), array: fc.boolean() }).map(
  ({ members, array }) =>
    new Large(`${array ? "an array" : "an object"} of ${members} members`, () =>
      array ? Array.from({ length: members }, (_, i) => i) : Object.fromEntries(Array.from({ length: members }, (_, i) => [`k${i}`, i])),
    ),
);
const longString = fc
  .record({ length: size([65_536, 65_537, 100_000], 100_000), char: fc.constantFrom("a", "é", "\u{1F600}", "\\", '"', "\u0000", "\uD800") })
  .map(({ length, char }) => new Large(`${JSON.stringify(char)} × ${length}`, () => char.repeat(length)));
const odd = fc.constantFrom<unknown>(
  { __proto__: { polluted: true } },
  JSON.parse('{"__proto__":{"polluted":true}}'),
  { constructor: { prototype: { x: 1 } } },
  { toJSON: "not a function" },
  1e308,
  -0,
  JSON.parse("9007199254740993"),
  "\uDFFF\uD800",
  [],
  null,
);
/** Any value a hostile sender could put in JSON. */
const hostile = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 6 }) },
  { weight: 2, arbitrary: nested },
  { weight: 1, arbitrary: wide },
  { weight: 1, arbitrary: longString },
  { weight: 1, arbitrary: odd },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
);
const hostileObject = fc.oneof(hostile.map((v) => ({ v })), fc.dictionary(fc.string({ maxLength: 40 }), hostile, { maxKeys: 8 }));

/** Raw body text: broken JSON, duplicate members, huge numbers, bytes that are not UTF-8. */
const rawBody = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.constantFrom('{"signal_id":"a","signal_id":"b","action":"open","params":{}}', "{", "[]", "null", "1e999999", '"\\ud800"'),
  fc.integer({ min: 1, max: 100_000 }).map((depth) => new Large(`raw text ${depth} arrays deep`, () => `{"params":${"[".repeat(depth)}${"]".repeat(depth)}}`)),
  hostile.map((v) => JSON.stringify(v) ?? "null"),
);

// ---- the property ----------------------------------------------------------

/** Requests whose answers were checked: each property asserts that it checked some. */
let checked = 0;

/** The service's body limits (GOVERNOR_BODY_LIMIT_BYTES's default; policy documents). */
const BODY_LIMIT = 64 * 1024;
const POLICY_LIMIT = 1024 * 1024;

/**
 * Sends a request. A body over the limit is answered 413 before it has all
 * been read, and the server closes the connection: a client still writing
 * then sees the connection cut (EPIPE), which is the server's answer too
 * (null here). Any other failure to get an answer fails the property.
 */
async function sent(request: Promise<Response>, body: unknown, limit = BODY_LIMIT): Promise<Response | null> {
  const bytes = Buffer.byteLength(typeof body === "string" ? body : (JSON.stringify(body) ?? ""));
  try {
    return await request;
  } catch (err) {
    if (bytes > limit) return null;
    throw err;
  }
}

async function expectStableAnswer(res: Response | null, what: string): Promise<void> {
  checked++;
  expect(service.proc.exitCode, `the process exited after ${what}`).toBeNull();
  if (res === null) return;
  const text = await res.text();
  expect(res.status, `${what} answered ${res.status}: ${text.slice(0, 300)}`).toBeLessThan(500);
  if (res.status >= 400) {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    expect(body.error?.code, `${what}: ${text.slice(0, 300)}`).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(typeof body.error?.message).toBe("string");
  }
}

const signalPath = (account: string) => `/v1/tenants/${encodeURIComponent(account)}/signals`;

describe("hostile inputs against a real process", () => {
  it("signal bodies: whatever the body, a 2xx or a 4xx with a stable code", async () => {
    const before = checked;
    await fc.assert(
      fc.asyncProperty(fc.oneof(rawBody, hostile.map((v) => JSON.stringify(v) ?? "null")), async (raw) => {
        const body = typeof raw === "string" ? raw : String(raw.toJSON());
        await expectStableAnswer(await sent(service.request("POST", signalPath(TENANT), { body, headers: { "content-type": "application/json" } }), body), "a raw signal body");
      }),
      { seed: SEED, numRuns: RUNS },
    );
    expect(checked - before).toBeGreaterThan(0);
  });

  it("signal params: hostile params to an action that takes any object, and to one with a strict schema", async () => {
    const before = checked;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("open", "strict", "missing"), hostileObject, fc.string({ maxLength: 300 }), async (action, params, signalId) => {
        const body = { signal_id: signalId.length > 0 ? signalId : randomUUID(), action, params };
        await expectStableAnswer(await sent(service.request("POST", signalPath(TENANT), { body }), body), `a signal to ${action}`);
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
    expect(checked - before).toBeGreaterThan(0);
  });

  it("account ids in the path: odd and hostile segments", async () => {
    const before = checked;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom("_platform", "..", "%00", "a".repeat(129), TENANT.toUpperCase())), async (account) => {
        if (account.length === 0) return;
        await expectStableAnswer(await service.request("POST", signalPath(account), { body: { signal_id: randomUUID(), action: "open", params: {} } }), "a signal to an odd account");
      }),
      { seed: SEED + 2, numRuns: RUNS },
    );
    expect(checked - before).toBeGreaterThan(0);
  });

  it("signed webhook payloads: hostile events are refused with a stable code or handled", async () => {
    const eventType = fc.oneof(fc.constantFrom("ENTITLEMENT_ACTIVE", "ENTITLEMENT_PLAN_CHANGED", "ENTITLEMENT_CANCELLED", "ACCOUNT_ACTIVE"), fc.string({ maxLength: 80 }));
    const account = fc.oneof(fc.integer({ min: 0, max: 20 }).map((n) => `wh-${n}`), fc.string({ maxLength: 200 }));
    const event = fc.oneof(
      hostile,
      fc.record({ eventId: fc.oneof(fc.uuid(), fc.string({ maxLength: 400 })), eventType, entitlement: fc.record({ id: fc.string({ maxLength: 300 }), account_id: account, sku_id: fc.constantFrom("fuzz", "demo", ""), plan: fc.constantFrom("p", "x"), region: hostile }, { requiredKeys: [] }) }, { requiredKeys: [] }),
    );
    const before = checked;
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        const res = await sent(service.webhook(e), e);
        const status = res?.status;
        await expectStableAnswer(res, "a signed webhook");
        const entitlement = (e as { entitlement?: { account_id?: unknown } } | null)?.entitlement;
        if (status === 201 && typeof entitlement?.account_id === "string") provisioned.add(entitlement.account_id);
      }),
      { seed: SEED + 3, numRuns: RUNS },
    );
    expect(checked - before).toBeGreaterThan(0);
  });

  it("policy documents: hostile documents and params schemas are refused with a stable code or applied", async () => {
    const hostileSchema = fc.oneof(
      hostile,
      fc.constantFrom<unknown>(
        { $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" },
        { $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" },
        { type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } },
        { type: "object", patternProperties: { "^(a|a)*$": { type: "string" } } },
        { type: "object", properties: { s: { type: "string", pattern: "(" } } },
        { $ref: "http://example.invalid/schema.json" },
      ),
    );
    const before = checked;
    await fc.assert(
      fc.asyncProperty(hostileSchema, fc.boolean(), fc.integer({ min: 0, max: 1_000 }), async (schema, apply, n) => {
        const doc = { ...fuzzPolicy, sku_id: `pz-${n}`, actions: { ...fuzzPolicy.actions, open: { handler: "noop", timeout_ms: 500, params_schema: schema } } };
        const query = apply ? "?new_sku=true" : "?dry_run=true&new_sku=true";
        const res = await sent(service.request("POST", `/v1/policies${query}`, { body: doc, token: service.credentials.tokens.gitops }), doc, POLICY_LIMIT);
        await expectStableAnswer(res, "a policy push");
      }),
      { seed: SEED + 4, numRuns: RUNS },
    );
    expect(checked - before).toBeGreaterThan(0);
    // Whole documents that are not policies at all.
    const beforeRaw = checked;
    await fc.assert(
      fc.asyncProperty(fc.oneof(rawBody, hostile.map((v) => JSON.stringify(v) ?? "null")), async (raw) => {
        const body = typeof raw === "string" ? raw : String(raw.toJSON());
        await expectStableAnswer(
          await sent(service.request("POST", "/v1/policies?dry_run=true", { body, headers: { "content-type": "application/json" }, token: service.credentials.tokens.gitops }), body, POLICY_LIMIT),
          "a raw policy body",
        );
      }),
      { seed: SEED + 5, numRuns: RUNS },
    );
    expect(checked - beforeRaw).toBeGreaterThan(0);
  });

  it("afterwards: the process is up, the tenant still works, and every ledger touched verifies offline", async () => {
    expect(service.proc.exitCode).toBeNull();
    expect((await service.request("GET", "/healthz", { token: null })).status).toBe(200);
    const res = await service.request("POST", signalPath(TENANT), { body: { signal_id: randomUUID(), action: "open", params: { ok: true } } });
    expect(res.status).toBe(202);
    for (const ledger of [TENANT, "_platform", ...provisioned]) {
      const verdict = await verifyExported(service, ledger);
      expect(verdict.code, `${ledger}: ${verdict.stdout}${verdict.stderr}`).toBe(0);
    }
  });
});
