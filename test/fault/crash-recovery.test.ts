/**
 * Crash recovery against a real process: the service runs as a child on the
 * embedded store, takes signals whose actions call a real HTTP endpoint, is
 * SIGKILLed with actions in flight, and is started again on the same data.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { endsAction } from "../support/ends.ts";
import { cliPath, entitlementEvent, eventually, readLedger, scratchDir, startService, type Service } from "../support/service.ts";

const run = promisify(execFile);

/** A signal ends with its action's end, or with its refusal. */
const TERMINAL = (r: Record<string, unknown>) => r["operation"] === "action_refused" || endsAction(r);

describe("a SIGKILLed runtime", () => {
  const executions = new Map<string, number>();
  const rollbacks = new Map<string, number>();
  let actionServer: Server;
  let service: Service | undefined;

  afterAll(async () => {
    await service?.kill();
    await new Promise((r) => actionServer?.close(r));
  });

  it("restarts with every accepted signal resolved exactly once, nothing run twice, and a ledger that verifies", async () => {
    // The tenants' action endpoint: slow enough that many actions are in flight at the kill, some past their deadline.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    actionServer = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const { action_id } = JSON.parse(body) as { action_id: string };
        const counts = req.url === "/rollback" ? rollbacks : executions;
        counts.set(action_id, (counts.get(action_id) ?? 0) + 1);
        const delay = req.url === "/rollback" ? 5 : 50 + Math.floor(random() * 700);
        setTimeout(() => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end('{"ok":true}');
        }, delay);
      });
    });
    await new Promise<void>((r) => actionServer.listen(0, "127.0.0.1", r));
    const port = (actionServer.address() as { port: number }).port;
    const policies = scratchDir("governor-policies-");
    writeFileSync(
      join(policies, "faulty.json"),
      JSON.stringify({
        sku_id: "faulty",
        policy_version: "1.0.0",
        actions: {
          work: {
            handler: "http",
            timeout_ms: 500,
            config: { url: `http://127.0.0.1:${port}/work`, rollback_url: `http://127.0.0.1:${port}/rollback` },
          },
        },
        plans: { small: { monthly_actions: 100000, concurrent_actions: 4, max_concurrency: 8, cost_per_slot_usd: "1.00", actions: ["work"] } },
      }),
    );

    service = await startService({ policiesDir: policies });
    const dataDir = service.dataDir;
    const tenants = ["t-a", "t-b", "t-c", "t-d"];
    const tokens = new Map<string, string>();
    for (const t of tenants) {
      const res = await service.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", t, { sku: "faulty", plan: "small" }));
      expect(res.status).toBe(201);
      tokens.set(t, await service.tenantToken(t));
    }

    // 240 signals; the process is killed once about half are answered.
    const accepted = new Map<string, { account: string; actionId: string }>();
    const sent: { account: string; signal: string }[] = [];
    let answered = 0;
    const first = service;
    const requests = Array.from({ length: 240 }, (_, i) => {
      const account = tenants[i % tenants.length]!;
      const signal = `sig-${i}`;
      sent.push({ account, signal });
      return first
        .request("POST", `/v1/tenants/${account}/signals`, { token: tokens.get(account)!, body: { signal_id: signal, action: "work", params: {} } })
        .then(async (res) => {
          answered++;
          if (res.status === 202) accepted.set(signal, { account, actionId: ((await res.json()) as { action_id: string }).action_id });
        })
        .catch(() => {});
    });
    await eventually(() => answered >= 120, "half the signals answered", 30_000);
    await first.kill("SIGKILL");
    await Promise.all(requests);
    expect(accepted.size).toBeGreaterThan(0);

    service = await startService({ dataDir, policiesDir: policies });
    const second = service;
    await eventually(async () => {
      for (const t of tenants) {
        const s = (await (await second.request("GET", `/v1/tenants/${t}`, { token: second.credentials.tokens.operator })).json()) as { in_flight: number; queue_depth: number };
        if (s.in_flight !== 0 || s.queue_depth !== 0) return false;
      }
      return true;
    }, "every tenant idle after restart", 60_000);

    let crashResolved = 0;
    for (const t of tenants) {
      const ledger = await readLedger(second, t);
      const terminalsBySignal = new Map<string, number>();
      const terminalsByAction = new Map<string, number>();
      const opened = new Set<string>();
      for (const r of ledger) {
        if (r["operation"] === "action_started" || r["operation"] === "action_queued") opened.add(r["action_id"] as string);
        if (r["operation"] === "action_timeout" && r["cause"] === "crash") crashResolved++;
        if (TERMINAL(r)) {
          const sig = r["signal_id"] as string;
          terminalsBySignal.set(sig, (terminalsBySignal.get(sig) ?? 0) + 1);
          if (typeof r["action_id"] === "string") terminalsByAction.set(r["action_id"], (terminalsByAction.get(r["action_id"]) ?? 0) + 1);
        }
      }
      // Every accepted signal: exactly one terminal receipt.
      for (const [signal, a] of accepted) {
        if (a.account !== t) continue;
        expect(terminalsBySignal.get(signal), `signal ${signal}`).toBe(1);
      }
      // Nothing orphaned: every action that was opened has exactly one terminal receipt.
      for (const actionId of opened) expect(terminalsByAction.get(actionId), `action ${actionId}`).toBe(1);
      // Signals whose answer was lost in the kill were decided at most once.
      for (const s of sent.filter((x) => x.account === t)) expect(terminalsBySignal.get(s.signal) ?? 0).toBeLessThanOrEqual(1);

      // The exported ledger verifies offline with the service's published key.
      const archive = join(dataDir, `${t}.tar.gz`);
      const res = await second.request("GET", `/v1/tenants/${t}/export`, { token: second.credentials.tokens.auditor });
      expect(res.status).toBe(200);
      writeFileSync(archive, Buffer.from(await res.arrayBuffer()));
      const keys = (await (await second.request("GET", "/.well-known/governor/keys", { token: null })).text()).trim().split("\n");
      const verdict = await run(process.execPath, [cliPath, "verify", archive, ...keys.flatMap((k) => ["--key", k])]);
      expect(verdict.stdout).toMatch(/valid/i);
    }
    // No action ran twice.
    for (const [actionId, n] of executions) expect(n, `action ${actionId} executions`).toBe(1);
    // The kill really did catch actions in flight, and replay resolved them.
    expect(crashResolved).toBeGreaterThan(0);
  }, 180_000);
});
