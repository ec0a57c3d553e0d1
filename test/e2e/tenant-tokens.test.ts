/**
 * A credential per tenant, against the real service (a process on a real
 * socket): the cross-tenant attacks, each of which the shared tenant token
 * allowed, and the tokens' life (issue, list, rotate, revoke, restart,
 * decommission) with its receipts.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSqliteTokenStore } from "../../src/adapters/embedded/sqlite-token-store.ts";
import { createFirestoreClient } from "../../src/adapters/gcp/firestore-ledger-store.ts";
import { requireFirestoreEmulator } from "../support/emulators.ts";
import { startGcsDouble } from "../support/gcs-double.ts";
import { cliPath, entitlementEvent, gcpServiceEnv, readLedger, repoRoot, scratchDir, startService, type Service } from "../support/service.ts";

const exec = promisify(execFile);

let svc: Service;
let policies: string;
beforeAll(async () => {
  policies = scratchDir("governor-policies-");
  writeFileSync(join(policies, "demo.json"), readFileSync(join(repoRoot, "policies/demo.json")));
  // A plan of two actions a month: a quota another tenant could use up.
  writeFileSync(
    join(policies, "tiny.json"),
    JSON.stringify({
      sku_id: "tiny",
      policy_version: "1.0.0",
      actions: { noop: { handler: "noop" } },
      plans: { two: { monthly_actions: 2, concurrent_actions: 1, max_concurrency: 1, cost_per_slot_usd: "1.00", actions: ["noop"] } },
    }),
  );
  svc = await startService({ policiesDir: policies });
  for (const [account, sku, plan] of [
    ["tt-a", "demo", "starter"],
    ["tt-b", "tiny", "two"],
    ["tt-gone", "demo", "starter"],
  ] as const) {
    const res = await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", account, { sku, plan }));
    if (res.status !== 201) throw new Error(`provision ${account}: HTTP ${res.status} ${await res.text()}`);
  }
  const cancelled = await svc.webhook(entitlementEvent("ENTITLEMENT_CANCELLED", "tt-gone"));
  if (cancelled.status !== 200) throw new Error(`cancel tt-gone: HTTP ${cancelled.status}`);
});
afterAll(async () => {
  await svc?.kill();
});

type Json = Record<string, any>;
const json = async (res: Response) => (await res.json()) as Json;
const issue = async (account: string, token?: string) => {
  const res = await svc.request("POST", `/v1/tenants/${account}/tokens`, token === undefined ? {} : { token });
  return { res, body: await json(res) };
};
const signal = (account: string, token: string, body: unknown) => svc.request("POST", `/v1/tenants/${account}/signals`, { token, body });
/** Everything of an answer a client can see but the date. */
async function answer(res: Response) {
  const headers = Object.fromEntries([...res.headers].filter(([k]) => k !== "date"));
  return { status: res.status, headers, body: await res.text() };
}

describe("a tenant token acts only on its own tenant", () => {
  let tokenA: string;
  let tokenB: string;
  beforeAll(async () => {
    tokenA = (await issue("tt-a")).body["token"];
    tokenB = (await issue("tt-b")).body["token"];
  });

  it("A's token sending a signal to B gets 403, the same answer as for a tenant that does not exist, and B's ledger is unchanged", async () => {
    const before = await readLedger(svc, "tt-b");
    const body = { signal_id: "a-as-b-1", action: "noop", params: {} };
    const toB = await answer(await signal("tt-b", tokenA, body));
    expect(toB.status).toBe(403);
    expect(JSON.parse(toB.body)).toEqual({ error: { code: "AUTH_TENANT_FORBIDDEN", message: "a tenant token acts only on its own tenant" } });
    // A tenant that never existed, one decommissioned, a path that is no account id, and bodies B's route would refuse:
    // the very same answer, so nothing tells A which tenants exist or what they take.
    expect(await answer(await signal("tt-nobody", tokenA, body))).toEqual(toB);
    expect(await answer(await signal("tt-gone", tokenA, body))).toEqual(toB);
    expect(await answer(await signal("not%20an%20id", tokenA, body))).toEqual(toB);
    expect(await answer(await signal("tt-b", tokenA, { action: "noop" }))).toEqual(toB);
    expect(await answer(await signal("tt-b", tokenA, "{not json"))).toEqual(toB);
    expect(await readLedger(svc, "tt-b")).toEqual(before);
  });

  it("A cannot claim B's signal id: B's real request later runs", async () => {
    expect((await signal("tt-b", tokenA, { signal_id: "b-order-1", action: "noop" })).status).toBe(403);
    const real = await signal("tt-b", tokenB, { signal_id: "b-order-1", action: "noop" });
    expect(real.status).toBe(202);
    expect(await json(real)).not.toHaveProperty("duplicate");
  });

  it("A cannot read B's outcomes: a repeat of B's signal id from A learns nothing of it", async () => {
    const mine = await json(await signal("tt-b", tokenB, { signal_id: "b-order-1", action: "noop" }));
    expect(mine).toMatchObject({ duplicate: true });
    const probe = await signal("tt-b", tokenA, { signal_id: "b-order-1", action: "noop" });
    expect(probe.status).toBe(403);
    const text = await probe.text();
    expect(text).not.toContain(String(mine["action_id"]));
    expect(text).not.toContain("duplicate");
  });

  it("A cannot use up B's monthly quota", async () => {
    for (let i = 0; i < 5; i++) expect((await signal("tt-b", tokenA, { signal_id: `drain-${i}`, action: "noop" })).status).toBe(403);
    // B's plan allows 2 a month; b-order-1 was one of them.
    expect((await signal("tt-b", tokenB, { signal_id: "b-order-2", action: "noop" })).status).toBe(202);
    const over = await signal("tt-b", tokenB, { signal_id: "b-order-3", action: "noop" });
    expect(over.status).toBe(429);
    const ledger = await readLedger(svc, "tt-b");
    expect(ledger.filter((r) => r["operation"] === "action_started").map((r) => r["signal_id"])).toEqual(["b-order-1", "b-order-2"]);
    expect(JSON.stringify(ledger)).not.toMatch(/drain-|a-as-b-/);
  });

  it("its own tenant's signals pass; platform tokens other than admin cannot send signals; admin passes everywhere", async () => {
    expect((await signal("tt-a", tokenA, { signal_id: "a-1", action: "noop" })).status).toBe(202);
    for (const scope of ["operator", "auditor", "gitops"] as const) {
      const res = await signal("tt-a", svc.credentials.tokens[scope], { signal_id: `p-${scope}`, action: "noop" });
      expect(res.status).toBe(403);
      expect((await json(res))["error"].code).toBe("AUTH_SCOPE_FORBIDDEN");
    }
    expect((await signal("tt-a", svc.credentials.tokens.admin, { signal_id: "admin-1", action: "noop" })).status).toBe(202);
  });

  it("a tenant token passes no operator or auditor route, even its own tenant's", async () => {
    for (const [method, path] of [
      ["GET", "/v1/tenants/tt-a"],
      ["GET", "/v1/tenants/tt-a/receipts"],
      ["GET", "/v1/tenants/tt-a/tokens"],
      ["POST", "/v1/tenants/tt-a/tokens"],
      ["GET", "/v1/tenants/tt-b/tokens"],
    ] as const) {
      const res = await svc.request(method, path, { token: tokenA });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((await json(res))["error"].code).toBe("AUTH_SCOPE_FORBIDDEN");
    }
  });
});

describe("a tenant token's life", () => {
  it("is issued once (201), listed without secrets, rotated, revoked at once, and its receipts name its id only", async () => {
    const first = await issue("tt-a", svc.credentials.tokens.operator);
    expect(first.res.status).toBe(201);
    expect(first.res.headers.get("cache-control")).toBe("no-store");
    expect(first.body).toMatchObject({ account_id: "tt-a", token_id: expect.stringMatching(/^tk_[A-Za-z0-9_-]{16}$/), token: expect.stringMatching(/^govt_/) });
    const second = (await issue("tt-a")).body;
    const [t1, t2] = [first.body["token"] as string, second["token"] as string];

    // Rotation: both work at once.
    expect((await signal("tt-a", t1, { signal_id: "rot-1", action: "noop" })).status).toBe(202);
    expect((await signal("tt-a", t2, { signal_id: "rot-2", action: "noop" })).status).toBe(202);

    const listed = await svc.request("GET", "/v1/tenants/tt-a/tokens", { token: svc.credentials.tokens.operator });
    expect(listed.status).toBe(200);
    const listText = await listed.text();
    const list = JSON.parse(listText) as Json;
    const mine = list["tokens"].filter((t: Json) => t["token_id"] === first.body["token_id"] || t["token_id"] === second["token_id"]);
    expect(mine).toHaveLength(2);
    for (const t of mine) {
      expect(Object.keys(t).sort()).toEqual(["created_at", "last_used_at", "token_id"]);
      expect(t["last_used_at"]).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    for (const t of [t1, t2]) {
      expect(listText).not.toContain(t);
      expect(listText).not.toContain(createHash("sha256").update(t).digest("hex"));
    }

    // Revoked: refused at once; the other goes on.
    const revoked = await svc.request("DELETE", `/v1/tenants/tt-a/tokens/${first.body["token_id"]}`, { token: svc.credentials.tokens.operator });
    expect(revoked.status).toBe(200);
    const refused = await signal("tt-a", t1, { signal_id: "rot-3", action: "noop" });
    expect(refused.status).toBe(401);
    expect((await json(refused))["error"].code).toBe("AUTH_TOKEN_INVALID");
    expect((await signal("tt-a", t2, { signal_id: "rot-4", action: "noop" })).status).toBe(202);
    const again = await svc.request("DELETE", `/v1/tenants/tt-a/tokens/${first.body["token_id"]}`, { token: svc.credentials.tokens.admin });
    expect(again.status).toBe(404);
    expect((await json(again))["error"].code).toBe("TENANT_TOKEN_UNKNOWN");

    const ledger = await readLedger(svc, "tt-a");
    expect(ledger.filter((r) => String(r["operation"]).startsWith("tenant_token_") && r["token_id"] === first.body["token_id"])).toMatchObject([
      { operation: "tenant_token_issued", token_id: first.body["token_id"], by: "operator", status: "success" },
      { operation: "tenant_token_revoked", token_id: first.body["token_id"], by: "operator", reason: "revoked" },
    ]);
    // Neither the tokens nor their hashes are anywhere in the ledger, its database, or the logs.
    const ledgerText = JSON.stringify(ledger);
    const files = readdirSync(svc.dataDir).filter((f) => f.endsWith(".sqlite"));
    expect(files).toEqual(expect.arrayContaining(["ledger.sqlite", "tenant-tokens.sqlite"]));
    const logs = svc.logs.join("\n");
    for (const t of [t1, t2]) {
      expect(ledgerText).not.toContain(t);
      expect(ledgerText).not.toContain(createHash("sha256").update(t).digest("hex"));
      for (const f of files) expect(readFileSync(join(svc.dataDir, f)).includes(t)).toBe(false);
      expect(logs).not.toContain(t);
    }
  });

  it("is refused for an unknown tenant (404), a decommissioned one (409), and beyond 10 active (409)", async () => {
    const unknown = await issue("tt-nobody");
    expect(unknown.res.status).toBe(404);
    expect(unknown.body["error"].code).toBe("TENANT_UNKNOWN");
    const gone = await issue("tt-gone");
    expect(gone.res.status).toBe(409);
    expect(gone.body["error"].code).toBe("TENANT_DECOMMISSIONED");
    expect((await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "tt-many"))).status).toBe(201);
    for (let i = 0; i < 10; i++) expect((await issue("tt-many")).res.status).toBe(201);
    const over = await issue("tt-many");
    expect(over.res.status).toBe(409);
    expect(over.body["error"].code).toBe("TENANT_TOKEN_LIMIT");
    expect((await json(await svc.request("GET", "/v1/tenants/tt-many/tokens")))["tokens"]).toHaveLength(10);
    expect((await readLedger(svc, "tt-many")).filter((r) => r["operation"] === "tenant_token_issued")).toHaveLength(10);
  });

  it("stops working when its tenant is decommissioned, and stays stopped when it is provisioned again", async () => {
    expect((await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "tt-dec"))).status).toBe(201);
    const [t1, t2] = [(await issue("tt-dec")).body, (await issue("tt-dec")).body];
    expect((await signal("tt-dec", t1["token"], { signal_id: "d-1", action: "noop" })).status).toBe(202);
    expect((await svc.webhook(entitlementEvent("ENTITLEMENT_CANCELLED", "tt-dec"))).status).toBe(200);
    for (const t of [t1, t2]) expect((await signal("tt-dec", t["token"], { signal_id: "d-2", action: "noop" })).status).toBe(401);
    const ledger = await readLedger(svc, "tt-dec");
    // Revoked as the cancel begins: before decommission_start, so the decommission archive holds the revocations.
    const start = ledger.findIndex((r) => r["operation"] === "decommission_start");
    expect(ledger.at(-1)).toMatchObject({ operation: "decommission_complete" });
    expect(ledger.slice(start - 2, start)).toMatchObject(
      [t1, t2].map((t) => ({ operation: "tenant_token_revoked", token_id: t["token_id"], by: "governor", reason: "decommissioned" })).sort((x, y) => (x.token_id < y.token_id ? -1 : 1)),
    );
    expect((await json(await svc.request("GET", "/v1/tenants/tt-dec/tokens")))["tokens"]).toEqual([]);
    expect((await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "tt-dec", { entitlementId: "ent-tt-dec-2" }))).status).toBe(201);
    expect((await signal("tt-dec", t1["token"], { signal_id: "d-3", action: "noop" })).status).toBe(401);
  });
});

describe("tenant tokens across restarts", () => {
  it("survive a SIGKILL; a revoked one stays revoked; a decommissioned tenant's leftover token is revoked at start", async () => {
    const own = await startService();
    expect((await own.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "rs-a"))).status).toBe(201);
    expect((await own.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "rs-gone"))).status).toBe(201);
    const keep = (await json(await own.request("POST", "/v1/tenants/rs-a/tokens")))["token"] as string;
    const drop = (await json(await own.request("POST", "/v1/tenants/rs-a/tokens"))) as Json;
    expect((await own.request("DELETE", `/v1/tenants/rs-a/tokens/${drop["token_id"]}`)).status).toBe(200);
    expect((await own.webhook(entitlementEvent("ENTITLEMENT_CANCELLED", "rs-gone"))).status).toBe(200);
    await own.kill("SIGKILL");

    // A token left behind for the decommissioned tenant (a process stopped between its decommission and the revocation).
    const store = createSqliteTokenStore({ path: join(own.dataDir, "tenant-tokens.sqlite") });
    const leftover = "govt_left-behind-by-a-process-that-stopped-too-soon-0123456789";
    await store.issue({ account: "rs-gone", tokenId: "tk_leftover12345678", digest: createHash("sha256").update(leftover).digest("hex"), createdAt: new Date().toISOString() }, 10);
    await store.close();

    const again = await startService({ dataDir: own.dataDir });
    try {
      const sig = (account: string, token: string, id: string) => again.request("POST", `/v1/tenants/${account}/signals`, { token, body: { signal_id: id, action: "noop" } });
      expect((await sig("rs-a", keep, "after-restart")).status).toBe(202);
      expect((await sig("rs-a", drop["token"], "revoked")).status).toBe(401);
      expect((await sig("rs-gone", leftover, "leftover")).status).toBe(401);
      expect((await readLedger(again, "rs-gone")).at(-1)).toMatchObject({ operation: "tenant_token_revoked", token_id: "tk_leftover12345678", reason: "decommissioned" });
    } finally {
      await again.kill();
    }
  });
});

describe("the CLI", () => {
  it("creates, lists and revokes a tenant's tokens, and signals with one", async () => {
    const env = { ...process.env, GOVERNOR_URL: svc.url, GOVERNOR_DATA_DIR: svc.dataDir, GOVERNOR_TOKEN: "" };
    const run = (...args: string[]) => exec(process.execPath, [cliPath, ...args], { env });
    const created = JSON.parse((await run("tenant", "token", "create", "tt-a")).stdout) as Json;
    expect(created).toMatchObject({ token_id: expect.stringMatching(/^tk_/), token: expect.stringMatching(/^govt_/) });
    const sent = JSON.parse((await run("signal", "tt-a", "noop", "--token", created["token"], "--id", "cli-1")).stdout) as Json;
    expect(sent).toMatchObject({ signal_id: "cli-1", state: "running" });
    const viaEnv = await exec(process.execPath, [cliPath, "signal", "tt-b", "noop", "--id", "cli-2"], { env: { ...env, GOVERNOR_TOKEN: created["token"] } }).catch((e: { code: number; stderr: string }) => e);
    expect(viaEnv).toMatchObject({ code: 1, stderr: expect.stringContaining("AUTH_TENANT_FORBIDDEN") });
    // As the README does it: the token alone, into GOVERNOR_TOKEN.
    const only = (await run("tenant", "token", "create", "tt-a", "--token-only")).stdout;
    expect(only).toMatch(/^govt_[A-Za-z0-9_-]+\n$/);
    const readme = await exec(process.execPath, [cliPath, "signal", "tt-a", "noop", "--params", '{"note":"hello"}'], { env: { ...env, GOVERNOR_TOKEN: only.trim() } });
    expect(JSON.parse(readme.stdout)).toMatchObject({ state: "running" });
    const listed = (await run("tenant", "token", "list", "tt-a")).stdout;
    expect(listed).toContain(created["token_id"]);
    expect(listed).not.toContain(created["token"]);
    await run("tenant", "token", "revoke", "tt-a", created["token_id"]);
    const after = await run("signal", "tt-a", "noop", "--token", created["token"]).catch((e: { code: number; stderr: string }) => e);
    expect(after).toMatchObject({ code: 1, stderr: expect.stringContaining("AUTH_TOKEN_INVALID") });
  });
});

describe("tenant tokens on the Google Cloud backend (Firestore emulator)", () => {
  it("keep only their hash in Firestore, survive a restart, and stay on their own tenant", async () => {
    const emulator = requireFirestoreEmulator();
    const gcs = await startGcsDouble();
    const prefix = `tt${Date.now().toString(36)}`;
    const start = (dataDir?: string) =>
      startService({
        args: ["--backend", "gcp"],
        ...(dataDir === undefined ? {} : { dataDir }),
        env: gcpServiceEnv({ projectId: emulator.projectId, prefix, storageUrl: gcs.url }),
      });
    const first = await start();
    try {
      for (const t of ["g-a", "g-b"]) expect((await first.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", t))).status).toBe(201);
      const token = (await json(await first.request("POST", "/v1/tenants/g-a/tokens")))["token"] as string;
      const sig = (s: Service, account: string, id: string) => s.request("POST", `/v1/tenants/${account}/signals`, { token, body: { signal_id: id, action: "noop" } });
      expect((await sig(first, "g-a", "g-1")).status).toBe(202);
      expect((await sig(first, "g-b", "g-1")).status).toBe(403);
      await first.kill("SIGKILL");

      const firestore = createFirestoreClient({ projectId: emulator.projectId });
      const docs = (await firestore.collection(`${prefix}tenant_tokens`).get()).docs;
      await firestore.terminate();
      expect(docs.map((d) => d.id)).toEqual([createHash("sha256").update(token).digest("hex")]);
      expect(JSON.stringify(docs.map((d) => d.data()))).not.toContain(token);

      const again = await start(first.dataDir);
      try {
        expect((await sig(again, "g-a", "g-2")).status).toBe(202);
        expect((await sig(again, "g-b", "g-2")).status).toBe(403);
        expect((await readLedger(again, "g-b")).map((r) => r["operation"])).toEqual(["entitlement_active"]);
      } finally {
        await again.kill();
      }
    } finally {
      await first.kill();
      await gcs.close();
    }
  }, 60_000);
});
