/**
 * Workflow 3 against the running service: an operator's scale through
 * `POST /v1/tenants/{account}/scale`, and the scaler reacting to real lag.
 */
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entitlementEvent, eventually, readLedger, scratchDir, startService, type Service } from "../support/service.ts";

let svc: Service;
let endpoint: Server;
const pending: (() => void)[] = [];
beforeAll(async () => {
  // Actions that wait until the test lets them go: the queue only grows.
  endpoint = createServer((req, res) => {
    req.resume();
    pending.push(() => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  await new Promise<void>((r) => endpoint.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(endpoint.address() as { port: number }).port}`;
  const policies = scratchDir("governor-policies-");
  writeFileSync(
    join(policies, "busy.json"),
    JSON.stringify({
      sku_id: "busy",
      policy_version: "1.0.0",
      actions: { wait: { handler: "http", timeout_ms: 30_000, config: { url: `${url}/wait`, rollback_url: `${url}/undo` } }, noop: { handler: "noop" } },
      plans: { small: { monthly_actions: 1000, concurrent_actions: 1, max_concurrency: 3, cost_per_slot_usd: "1.25", actions: ["wait", "noop"] } },
      scaling: { queue_depth_threshold: 2, oldest_wait_ms_threshold: 600_000, window_ms: 60_000, step: 1 },
    }),
  );
  svc = await startService({ policiesDir: policies, env: { GOVERNOR_SCALE_INTERVAL_MS: "100" } });
  for (const t of ["sc-op", "sc-lag"]) {
    const res = await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", t, { sku: "busy", plan: "small" }));
    if (res.status !== 201) throw new Error(`provision ${t}: HTTP ${res.status}`);
  }
});
afterAll(async () => {
  for (const p of pending.splice(0)) p();
  await svc?.kill();
  await new Promise((r) => endpoint?.close(r));
});

const scale = (account: string, body: unknown, token = svc.credentials.tokens.operator) => svc.request("POST", `/v1/tenants/${account}/scale`, { token, body });
const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe("operator scale", () => {
  it("applies a concurrency within the plan's maximum, with its cost and a receipt", async () => {
    const res = await scale("sc-op", { concurrency: 3 });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ account_id: "sc-op", previous_concurrency: 1, concurrency: 3, cost_delta_usd: "2.50", receipt: { ledger: "sc-op", operation: "governor_scaled" } });
    const status = await json(await svc.request("GET", "/v1/tenants/sc-op", { token: svc.credentials.tokens.operator }));
    expect(status["concurrency"]).toBe(3);
    const again = await json(await scale("sc-op", { concurrency: 3 }));
    expect(again).toMatchObject({ concurrency: 3, unchanged: true });
  });

  it("refuses a concurrency over the plan's maximum with 422 and a quota_exceeded receipt; nothing changes", async () => {
    const res = await scale("sc-op", { concurrency: 9 });
    expect(res.status).toBe(422);
    const body = await json(res);
    expect(body["error"].code).toBe("QUOTA_EXCEEDED");
    expect(body["error"].message).toContain("over the plan's maximum of 3");
    const ledger = await readLedger(svc, "sc-op");
    expect(ledger.at(-1)).toMatchObject({ operation: "quota_exceeded", requested: 9, limit: 3, reason: "operator", status: "refused" });
    expect((await json(await svc.request("GET", "/v1/tenants/sc-op", { token: svc.credentials.tokens.operator })))["concurrency"]).toBe(3);
  });

  it("answers bad requests clearly", async () => {
    expect((await scale("sc-op", { concurrency: 0 })).status).toBe(400);
    expect((await json(await scale("sc-op", { concurrency: "2" })))["error"].code).toBe("BODY_INVALID");
    expect((await json(await scale("sc-op", { concurrency: 2, extra: 1 })))["error"].code).toBe("BODY_INVALID");
    expect((await scale("nobody", { concurrency: 2 })).status).toBe(404);
    expect((await scale("sc-op", { concurrency: 2 }, await svc.tenantToken("sc-op"))).status).toBe(403);
  });
});

describe("the scaler on real lag", () => {
  it("adds a slot when the queue passes the policy's threshold", async () => {
    const token = await svc.tenantToken("sc-lag");
    for (let i = 0; i < 4; i++) {
      const res = await svc.request("POST", "/v1/tenants/sc-lag/signals", { token, body: { signal_id: `lag-${i}`, action: "wait" } });
      expect(res.status).toBe(202);
    }
    await eventually(async () => (await readLedger(svc, "sc-lag")).some((r) => r["operation"] === "governor_scaled"), "a scale decision", 5_000);
    const scaled = (await readLedger(svc, "sc-lag")).find((r) => r["operation"] === "governor_scaled");
    expect(scaled).toMatchObject({ previous_concurrency: 1, concurrency: 2, reason: "lag", cost_delta_usd: "1.25" });
    // The scaler looks every 100 ms: it may act as the queue reaches the threshold (2) or once all four arrived (3).
    expect(Number(scaled?.["queue_depth"])).toBeGreaterThanOrEqual(2);
    // The new slot is used at once.
    const status = await json(await svc.request("GET", "/v1/tenants/sc-lag", { token: svc.credentials.tokens.operator }));
    expect(status).toMatchObject({ concurrency: 2, in_flight: 2, queue_depth: 2 });
  });
});
