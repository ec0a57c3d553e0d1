/**
 * Workflow 2 end to end against the running service: policy pushes through
 * the CLI and `POST /v1/policies`, the compatibility check, forced pushes,
 * the broadcast to running governors, the watched policies directory, and
 * every bad input the GitOps side can send.
 */
import { execFile } from "node:child_process";
import { mkdirSync, watch, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath, entitlementEvent, eventually, readLedger, scratchDir, startService, type Service } from "../support/service.ts";

const exec = promisify(execFile);

/** An action endpoint that holds `slow` actions until released: they stay in flight. */
let endpoint: Server;
let endpointUrl = "";
const held: (() => void)[] = [];
function startEndpoint(): Promise<void> {
  endpoint = createServer((req, res) => {
    req.resume();
    const done = () => res.writeHead(200, { "content-type": "application/json" }).end("{}");
    if (req.url?.startsWith("/slow")) held.push(done);
    else done();
  });
  return new Promise((r) =>
    endpoint.listen(0, "127.0.0.1", () => {
      const a = endpoint.address();
      endpointUrl = typeof a === "object" && a !== null ? `http://127.0.0.1:${a.port}` : "";
      r();
    }),
  );
}

type Doc = Record<string, any>;
function shop(version: string, change: (d: Doc) => void = () => {}): Doc {
  const d: Doc = {
    sku_id: "shop",
    policy_version: version,
    actions: {
      noop: { handler: "noop" },
      slow: { handler: "http", timeout_ms: 60_000, config: { url: `${endpointUrl}/slow`, rollback_url: `${endpointUrl}/undo` } },
      extra: { handler: "noop" },
    },
    plans: {
      basic: { monthly_actions: 100, concurrent_actions: 4, max_concurrency: 8, cost_per_slot_usd: "0.50", actions: ["noop", "slow"] },
    },
  };
  change(d);
  return d;
}

let svc: Service;
let policiesDir: string;
let work: string;
beforeAll(async () => {
  await startEndpoint();
  policiesDir = scratchDir("governor-policies-");
  work = scratchDir("governor-policy-files-");
  writeFileSync(join(policiesDir, "shop.json"), JSON.stringify(shop("1.0.0"), null, 2));
  svc = await startService({ policiesDir });
  for (const t of ["p-a", "p-b", "p-c"]) {
    const res = await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", t, { sku: "shop", plan: "basic" }));
    if (res.status !== 201) throw new Error(`provisioning ${t}: HTTP ${res.status} ${await res.text()}`);
  }
});
afterAll(async () => {
  for (const r of held.splice(0)) r();
  await svc?.kill();
  endpoint?.close();
});

const gitops = () => svc.credentials.tokens.gitops;
const push = (doc: unknown, query = "", headers: Record<string, string> = {}) => svc.request("POST", `/v1/policies${query}`, { token: gitops(), body: doc, headers });
const json = async (res: Response) => (await res.json()) as Doc;
const versionOf = async (account: string) => (await json(await svc.request("GET", `/v1/tenants/${account}`, { token: svc.credentials.tokens.operator })))["policy_version"];
const platform = () => readLedger(svc, "_platform");
/** Each tenant's own token, issued on first use. */
const tenantTokens = new Map<string, string>();
const signal = async (account: string, id: string, action: string) => {
  let token = tenantTokens.get(account);
  if (token === undefined) tenantTokens.set(account, (token = await svc.tenantToken(account)));
  return svc.request("POST", `/v1/tenants/${account}/signals`, { token, body: { signal_id: id, action } });
};

/** Runs the CLI against the service with the gitops token. */
function cli(...args: string[]) {
  return exec(process.execPath, [cliPath, ...args], {
    env: { ...process.env, GOVERNOR_URL: svc.url, GOVERNOR_GITOPS_TOKEN: gitops(), GOVERNOR_ACTOR: "ci-pipeline" },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}
const file = (name: string, doc: unknown) => {
  const path = join(work, name);
  writeFileSync(path, typeof doc === "string" ? doc : JSON.stringify(doc, null, 2));
  return path;
};

describe("policy push, end to end", () => {
  it("validates offline with every problem and its path", async () => {
    const ok = await cli("policy", "validate", file("ok.json", shop("1.1.0")));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("ok: shop@1.1.0 (1 plan, 3 actions)");
    const bad = await cli("policy", "validate", file("bad.json", shop("1.1", (d) => {
      d.plans.basic.actions.push("ghost");
      d.actions.noop.handler = "teleport";
    })));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("policy_version: expected a semantic version");
    expect(bad.stderr).toContain('plans.basic.actions.2: plan "basic" permits action "ghost", which the policy does not define');
    const notJson = await cli("policy", "validate", file("half.json", '{"sku_id": "shop", "policy_'));
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(/\(document\): not valid JSON/);
    const missing = await cli("policy", "validate", join(work, "nope.json"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no such file or directory");
  });

  it("diffs against the running service: what changes and for how many tenants", async () => {
    const r = await cli("policy", "diff", file("diff.json", shop("1.1.0", (d) => void (d.plans.basic.concurrent_actions = 6))));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("shop 1.0.0 -> 1.1.0");
    expect(r.stdout).toContain("~ basic (3 tenants on it)");
    expect(r.stdout).toContain("concurrent_actions: 4 -> 6");
    expect(r.stdout).toContain("running tenants: 3; affected: 3");
    expect(r.stdout).toContain("compatible");
    expect(await versionOf("p-a")).toBe("1.0.0");
  });

  it("pushes a compatible version to every running governor without a restart", async () => {
    // One tenant is busy: its governor must switch between two signals, not inside one.
    expect((await signal("p-a", "a-1", "noop")).status).toBe(202);
    const r = await cli("policy", "push", file("v110.json", shop("1.1.0", (d) => d.plans.basic.actions.push("extra"))));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("applied shop 1.0.0 -> 1.1.0: 3 governors upgraded, 0 kept the previous version");
    for (const t of ["p-a", "p-b", "p-c"]) {
      expect(await versionOf(t)).toBe("1.1.0");
      const upgraded = (await readLedger(svc, t)).filter((x) => x["operation"] === "policy_upgraded");
      expect(upgraded).toEqual([expect.objectContaining({ previous_version: "1.0.0", policy_version: "1.1.0", forced: false, sku_id: "shop" })]);
    }
    // The new version's permissions apply at once.
    expect((await signal("p-b", "b-1", "extra")).status).toBe(202);
    const again = await cli("policy", "push", join(work, "v110.json"));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("unchanged");
  });

  it("refuses an incompatible version: policy_upgrade_skipped with the reasons, an alert, nothing applied", async () => {
    // p-c uses up 3 actions; a quota of 2 would strand it. p-b has a slow action in flight.
    for (const i of [1, 2, 3]) expect((await signal("p-c", `c-${i}`, "noop")).status).toBe(202);
    expect((await signal("p-b", "b-slow", "slow")).status).toBe(202);
    await eventually(() => held.length > 0, "the slow action to be in flight");
    const lower = shop("1.2.0", (d) => {
      d.plans.basic.monthly_actions = 2;
      delete d.actions.slow;
      d.plans.basic.actions = ["noop", "extra"];
    });
    const res = await push(lower);
    expect(res.status).toBe(409);
    const body = await json(res);
    expect(body["error"].code).toBe("POLICY_INCOMPATIBLE");
    expect(body["error"].reasons).toEqual([
      'action "slow" is removed while 1 tenant has it in flight (p-b)',
      'plan "basic": monthly_actions 2 is below what 1 tenant already used this month (up to 3: p-c)',
    ]);
    const skipped = (await platform()).filter((x) => x["operation"] === "policy_upgrade_skipped");
    expect(skipped.at(-1)).toMatchObject({ sku_id: "shop", policy_version: "1.1.0", attempted_version: "1.2.0", status: "refused" });
    expect(svc.logs.some((l) => l.includes('"alert":"policy_upgrade_skipped"'))).toBe(true);
    for (const t of ["p-a", "p-b", "p-c"]) expect(await versionOf(t)).toBe("1.1.0");

    const cliRun = await cli("policy", "push", file("lower.json", lower));
    expect(cliRun.code).toBe(1);
    expect(cliRun.stderr).toContain("not applied, POLICY_INCOMPATIBLE");
    expect(cliRun.stderr).toContain("push with --force");
  });

  it("applies a forced push anyway and leaves an escalation receipt naming who forced it", async () => {
    const forced = shop("1.3.0", (d) => void (d.plans.basic.monthly_actions = 2));
    const r = await cli("policy", "push", file("forced.json", forced), "--force");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("(FORCED)");
    const escalation = (await platform()).filter((x) => x["operation"] === "escalation").at(-1);
    expect(escalation).toMatchObject({ code: "policy_forced", forced_by: "gitops token (ci-pipeline)", policy_version: "1.3.0" });
    expect(String(escalation?.["reason"])).toContain("monthly_actions 2 is below");
    const upgraded = (await readLedger(svc, "p-c")).filter((x) => x["operation"] === "policy_upgraded").at(-1);
    expect(upgraded).toMatchObject({ policy_version: "1.3.0", forced: true });
    expect(await versionOf("p-c")).toBe("1.3.0");
  });

  it("refuses a lower version, and a reused version with different content even when forced", async () => {
    const lower = await push(shop("1.0.5"));
    expect(lower.status).toBe(409);
    expect((await json(lower))["error"].reasons).toEqual(["policy_version 1.0.5 is lower than the current 1.3.0"]);
    const reused = await push(shop("1.1.0", (d) => void (d.plans.basic.max_concurrency = 9)), "?force=true");
    expect(reused.status).toBe(409);
    const body = await json(reused);
    expect(body["error"].code).toBe("POLICY_VERSION_CONFLICT");
    expect(body["error"].message).toContain("versions are immutable: bump policy_version");
    expect(await versionOf("p-a")).toBe("1.3.0");
  });

  it("answers schema failures with 400, the path of each error, and a policy_validation_failed receipt", async () => {
    const res = await push(shop("2.0.0", (d) => {
      d.plans.basic.concurrent_actions = 0;
      d.actions.noop.handler = "teleport";
    }));
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body["error"].code).toBe("POLICY_INVALID");
    expect(body["error"].issues.map((i: Doc) => i["path"])).toEqual(["plans.basic.concurrent_actions"]);
    const handler = await json(await push(shop("2.0.0", (d) => void (d.actions.noop.handler = "teleport"))));
    expect(handler["error"].issues).toEqual([{ path: "actions.noop.handler", message: 'handler "teleport" does not exist here (known: http, noop)' }]);
    const failed = (await platform()).filter((x) => x["operation"] === "policy_validation_failed");
    expect(failed.at(-1)).toMatchObject({ sku_id: "shop", policy_version: "2.0.0", errors: [{ path: "actions.noop.handler" }] });
    expect(await versionOf("p-a")).toBe("1.3.0");
  });

  it("refuses an unknown SKU unless it is added on purpose", async () => {
    const other = { ...shop("1.0.0"), sku_id: "shopp" };
    const res = await push(other);
    expect(res.status).toBe(404);
    expect((await json(res))["error"].code).toBe("POLICY_UNKNOWN_SKU");
    const added = await push(other, "?new_sku=true");
    expect(added.status).toBe(200);
    expect(await json(added)).toMatchObject({ status: "applied", sku_id: "shopp", previous_version: null, governors: { upgraded: 0 } });
  });

  it("refuses bad requests: no token, the wrong scope, invalid JSON", async () => {
    expect((await svc.request("POST", "/v1/policies", { token: null, body: shop("9.0.0") })).status).toBe(401);
    const scope = await svc.request("POST", "/v1/policies", { token: svc.credentials.tokens.auditor, body: shop("9.0.0") });
    expect(scope.status).toBe(403);
    expect((await json(scope))["error"].code).toBe("AUTH_SCOPE_FORBIDDEN");
    const bad = await svc.request("POST", "/v1/policies", { token: gitops(), body: '{"sku_id": ' });
    expect(bad.status).toBe(400);
    expect((await json(bad))["error"].code).toBe("BODY_INVALID_JSON");
    const noCli = await exec(process.execPath, [cliPath, "policy", "push", join(work, "ok.json")], {
      env: { ...process.env, GOVERNOR_URL: svc.url, GOVERNOR_DATA_DIR: scratchDir("governor-empty-"), GOVERNOR_GITOPS_TOKEN: "", GOVERNOR_ADMIN_TOKEN: "" },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(noCli.code).toBe(2);
    expect(noCli.stderr).toContain("no gitops token");
  });

  it("pushes a file edited in the watched policies directory; a half-written or broken file changes nothing", async () => {
    const path = join(policiesDir, "shop.json");
    const next = JSON.stringify(shop("1.4.0", (d) => void (d.plans.basic.monthly_actions = 120)), null, 2);
    // An editor writing in two steps: the first half is not JSON, and the second comes once a watcher of the directory has seen the first.
    const halfSeen = new Promise<void>((resolveSeen) => {
      const watcher = watch(policiesDir, (_event, name) => {
        if (name !== "shop.json") return;
        watcher.close();
        resolveSeen();
      });
    });
    writeFileSync(path, next.slice(0, 40));
    await halfSeen;
    writeFileSync(path, next);
    await eventually(async () => (await versionOf("p-a")) === "1.4.0", "the edited file to be applied", 10_000);
    // The service logs the push just after applying it: the line may reach us after the new version does.
    const applied = () => svc.logs.some((l) => l.includes("policy file shop.json applied: shop 1.3.0 -> 1.4.0"));
    await eventually(applied, "the log line of the push", 5_000).catch(() => {});
    expect(applied()).toBe(true);

    const before = (await platform()).length;
    writeFileSync(path, '{ "sku_id": "shop", "policy_version": "1.5.0", ');
    await eventually(() => svc.logs.some((l) => l.includes("policy file shop.json refused: (document): not valid JSON")), "a clear log line", 10_000);
    await eventually(async () => (await platform()).length > before, "a policy_validation_failed receipt", 5_000);
    expect((await platform()).at(-1)).toMatchObject({ operation: "policy_validation_failed" });
    expect(await versionOf("p-a")).toBe("1.4.0");
  });

  it("keeps every version across a restart: governors come back on the version their ledger names", async () => {
    for (const r of held.splice(0)) r();
    await eventually(async () => (await readLedger(svc, "p-b")).some((x) => x["operation"] === "action_complete" && x["signal_id"] === "b-slow"), "the slow action to finish");
    await svc.kill("SIGTERM");
    mkdirSync(policiesDir, { recursive: true });
    writeFileSync(join(policiesDir, "shop.json"), JSON.stringify(shop("1.4.0", (d) => void (d.plans.basic.monthly_actions = 120)), null, 2));
    svc = await startService({ dataDir: svc.dataDir, policiesDir });
    for (const t of ["p-a", "p-b", "p-c"]) expect(await versionOf(t)).toBe("1.4.0");
    const list = await json(await svc.request("GET", "/v1/policies", { token: svc.credentials.tokens.operator }));
    expect(list["policies"]).toContainEqual({ sku_id: "shop", policy_version: "1.4.0", versions: ["1.0.0", "1.1.0", "1.3.0", "1.4.0"] });
  });
});
