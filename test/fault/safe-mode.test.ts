/**
 * Safe mode against a real failure: the service runs as a child process on
 * the embedded store, and a second process takes the SQLite database's write
 * lock (writes then fail as they would in production) and later releases it.
 * Prints the detection and recovery figures beside their bounds.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endsAction } from "../support/ends.ts";
import { entitlementEvent, eventually, readLedger, scratchDir, startService, verifyExported, type Service } from "../support/service.ts";
import { holdWriteLock } from "../support/sqlite-lock.ts";

const INTERVAL = 400;
const DEADLINE = 250;
const FAILURES = 3;
const env = {
  GOVERNOR_HEALTH_INTERVAL_MS: String(INTERVAL),
  GOVERNOR_PROBE_DEADLINE_MS: String(DEADLINE),
  GOVERNOR_PROBE_FAILURES: String(FAILURES),
  GOVERNOR_RETRY_AFTER_S: "7",
  // The signal taken before safe mode is declared waits for the spool here (the 503 at the admission deadline has its own test).
  GOVERNOR_SIGNAL_DURABLE_MS: "60000",
};

/**
 * The tenants' action endpoint: notes when each action arrived, and answers
 * at once or, while `holding`, when the test lets the held answers go (the
 * actions are in flight when the store fails, then finish while it is locked).
 */
const arrivals: { actionId: string; at: number }[] = [];
const heldAnswers: (() => void)[] = [];
let holding = false;
/** Sends the held answers, and answers at once from then on. */
function answerHeld(): void {
  holding = false;
  for (const answer of heldAnswers.splice(0)) answer();
}
let endpoint: Server;
let policies: string;

beforeAll(async () => {
  endpoint = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const answer = () => void res.writeHead(200, { "content-type": "application/json" }).end("{}");
      if (req.url !== "/work") return answer();
      arrivals.push({ actionId: (JSON.parse(body) as { action_id: string }).action_id, at: Date.now() });
      if (holding) heldAnswers.push(answer);
      else answer();
    });
  });
  await new Promise<void>((r) => endpoint.listen(0, "127.0.0.1", r));
  const port = (endpoint.address() as { port: number }).port;
  policies = scratchDir("governor-policies-");
  writeFileSync(
    join(policies, "fragile.json"),
    JSON.stringify({
      sku_id: "fragile",
      policy_version: "1.0.0",
      actions: { work: { handler: "http", timeout_ms: 3000, config: { url: `http://127.0.0.1:${port}/work`, rollback_url: `http://127.0.0.1:${port}/undo` } } },
      plans: { basic: { monthly_actions: 10_000, concurrent_actions: 8, max_concurrency: 8, cost_per_slot_usd: "0.10", actions: ["work"] } },
    }),
  );
});
afterAll(async () => {
  answerHeld();
  await new Promise((r) => endpoint?.close(r));
});

/** A signal ends with its action's end, or with its refusal. */
const TERMINAL = (r: Record<string, unknown>) => r["operation"] === "action_refused" || endsAction(r);

async function health(svc: Service) {
  const ready = await svc.request("GET", "/readyz", { token: null });
  return { status: ready.status, body: (await ready.json()) as { safe_mode: boolean }, retryAfter: ready.headers.get("retry-after") };
}

/** Every accepted signal of the tenant has exactly one terminal receipt. */
function expectOneTerminalEach(ledger: Record<string, unknown>[], accepted: string[]) {
  const terminals = new Map<string, number>();
  for (const r of ledger) if (TERMINAL(r)) terminals.set(String(r["signal_id"]), (terminals.get(String(r["signal_id"])) ?? 0) + 1);
  for (const s of accepted) expect(terminals.get(s), `signal ${s}`).toBe(1);
}

describe("safe mode on a locked SQLite store", () => {
  const started: Service[] = [];
  const start = async (options: Parameters<typeof startService>[0]) => {
    const s = await startService(options);
    started.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of started) await s.kill();
  });

  it("detects, refuses explicitly, spools, recovers in order, and loses nothing", async () => {
    const s = await start({ policiesDir: policies, env });
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "sm-1", { sku: "fragile", plan: "basic" }))).status).toBe(201);
    const token = await s.tenantToken("sm-1");
    const signal = (id: string) => s.request("POST", "/v1/tenants/sm-1/signals", { token, body: { signal_id: id, action: "work" } });

    // Actions in flight when the store fails: their outcomes must be spooled.
    holding = true;
    const accepted: string[] = [];
    for (let i = 0; i < 4; i++) {
      expect((await signal(`before-${i}`)).status).toBe(202);
      accepted.push(`before-${i}`);
    }
    await eventually(() => heldAnswers.length === 4, "the actions to reach the endpoint", 10_000);
    const lock = await holdWriteLock(join(s.dataDir, "ledger.sqlite"));
    const lockedAt = Date.now();
    // A signal taken while the failure is not yet detected: accepted, but its action must not run in safe mode.
    const during = signal("undetected-1");
    answerHeld();

    await eventually(async () => (await health(s)).status === 503, "safe mode", 10_000);
    const detectedMs = Date.now() - lockedAt;
    const detectionBound = FAILURES * INTERVAL + DEADLINE;
    expect((await health(s)).body.safe_mode).toBe(true);
    const status = (await (await s.request("GET", "/v1/status", { token: s.credentials.tokens.operator })).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ status: "degraded", safe_mode: true, store: "down" });
    const tenant = (await (await s.request("GET", "/v1/tenants/sm-1", { token: s.credentials.tokens.operator })).json()) as Record<string, unknown>;
    expect(tenant).toMatchObject({ mode: "safe_mode", availability: "unavailable", unavailable_reason: "safe_mode" });

    // Every submission is refused explicitly, with Retry-After.
    let refused = 0;
    for (let i = 0; i < 6; i++) {
      const res = await signal(`refused-${i}`);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("7");
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("SAFE_MODE");
      refused++;
    }
    expect((await during).status).toBe(202);
    accepted.push("undetected-1");
    // The in-flight actions finished while the store is locked: their receipts go to the spool.
    const spool = join(s.dataDir, "spool", "receipts.jsonl");
    // Whole lines only: the spool may be mid-write.
    const readSpool = () => (existsSync(spool) ? readFileSync(spool, "utf8").split("\n").slice(0, -1) : []).map((l) => JSON.parse(l) as { ledger: string; receipt: Record<string, unknown> });
    await eventually(() => readSpool().filter((e) => e.receipt["operation"] === "action_complete").length >= 4, "the in-flight actions' outcomes in the spool", 10_000);
    const spooled = readSpool();
    expect(spooled.map((e) => e.receipt["operation"])).toContain("degraded_mode");
    expect(spooled.filter((e) => e.receipt["operation"] === "action_complete")).toHaveLength(4);
    const safeFrom = Date.now();

    await lock.release();
    const releasedAt = Date.now();
    await eventually(async () => (await health(s)).status === 200, "recovery", 10_000);
    const recoveredMs = Date.now() - releasedAt;
    const safeUntil = Date.now();
    process.stdout.write(
      `safe mode (embedded, lock held by another process): detection ${detectedMs} ms (bound ${detectionBound} ms = ${FAILURES} x ${INTERVAL} + ${DEADLINE}); ` +
        `recovery ${recoveredMs} ms (bound ${INTERVAL} ms + poll); ${refused} refused; ${spooled.length} receipts spooled\n`,
    );
    expect(detectedMs).toBeLessThanOrEqual(detectionBound + 200);
    expect(recoveredMs).toBeLessThanOrEqual(INTERVAL + 200);

    // Nothing was executed while degraded: the undetected signal's action never reached the endpoint.
    expect(arrivals.filter((a) => a.at >= safeFrom && a.at <= safeUntil)).toEqual([]);
    // The undetected signal's action is failed once the store is back: its end is the last thing this test waits for.
    await eventually(async () => (await readLedger(s, "sm-1")).some((r) => r["signal_id"] === "undetected-1" && TERMINAL(r)), "the undetected signal's end", 10_000);
    const ledger = await readLedger(s, "sm-1");
    const undetected = ledger.filter((r) => r["signal_id"] === "undetected-1");
    expect(undetected.map((r) => r["operation"])).toEqual(["action_started", "action_failed"]);
    expect(undetected[1]).toMatchObject({ code: "safe_mode", recoverable: false });
    expect(arrivals.some((a) => a.actionId === undetected[0]!["action_id"])).toBe(false);
    expectOneTerminalEach(ledger, accepted);
    expect(ledger.filter((r) => String(r["signal_id"]).startsWith("refused-"))).toEqual([]);

    // The platform ledger tells the story, in order; the spool is empty; both ledgers verify.
    const platform = await readLedger(s, "_platform");
    const modes = platform.filter((r) => String(r["operation"]).startsWith("degraded_mode"));
    expect(modes.map((r) => r["operation"])).toEqual(["degraded_mode", "degraded_mode_cleared"]);
    expect(modes[0]).toMatchObject({ scope: "store", consecutive_failures: FAILURES });
    expect(modes[1]).toMatchObject({ scope: "store", actions_refused: refused });
    expect(Number(modes[1]!["spooled_receipts"])).toBeGreaterThanOrEqual(spooled.length);
    expect(readFileSync(spool, "utf8")).toBe("");
    for (const ledgerId of ["sm-1", "_platform"]) expect((await verifyExported(s, ledgerId)).stdout).toMatch(/valid/);

    // Intake resumed.
    expect((await signal("after-1")).status).toBe(202);
  }, 60_000);

  it("before safe mode is declared, a signal that cannot be made durable in time gets 503 SIGNAL_NOT_DURABLE at once; a repeat later returns its outcome", async () => {
    // Probes far apart: safe mode is not declared while the lock is held.
    const s = await start({ policiesDir: policies, env: { ...env, GOVERNOR_HEALTH_INTERVAL_MS: "600000", GOVERNOR_SIGNAL_DURABLE_MS: "300" } });
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "sm-3", { sku: "fragile", plan: "basic" }))).status).toBe(201);
    const token = await s.tenantToken("sm-3");
    const signal = () => s.request("POST", "/v1/tenants/sm-3/signals", { token, body: { signal_id: "slow-1", action: "work" } });
    const lock = await holdWriteLock(join(s.dataDir, "ledger.sqlite"));
    const refused = await signal();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("7");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("SIGNAL_NOT_DURABLE");
    expect((await health(s)).body.safe_mode).toBe(false);
    await lock.release();
    // The store answers again: the receipt lands, and the repeat returns the first outcome.
    await eventually(async () => (await signal()).status === 200, "the repeat to return the signal's outcome", 15_000);
    const ledger = await readLedger(s, "sm-3");
    expect(ledger.filter((r) => r["signal_id"] === "slow-1" && (r["operation"] === "action_started" || r["operation"] === "action_queued"))).toHaveLength(1);
  }, 60_000);

  it("a crash while degraded loses nothing: the spool is drained first on restart", async () => {
    const first = await start({ policiesDir: policies, env });
    expect((await first.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "sm-2", { sku: "fragile", plan: "basic" }))).status).toBe(201);
    const accepted: string[] = [];
    const token = await first.tenantToken("sm-2");
    holding = true;
    for (let i = 0; i < 3; i++) {
      const res = await first.request("POST", "/v1/tenants/sm-2/signals", { token, body: { signal_id: `k-${i}`, action: "work" } });
      expect(res.status).toBe(202);
      accepted.push(`k-${i}`);
    }
    await eventually(() => heldAnswers.length === 3, "the actions to reach the endpoint", 10_000);
    const lock = await holdWriteLock(join(first.dataDir, "ledger.sqlite"));
    answerHeld();
    await eventually(async () => (await health(first)).status === 503, "safe mode", 10_000);
    const spool = join(first.dataDir, "spool", "receipts.jsonl");
    await eventually(() => existsSync(spool) && readFileSync(spool, "utf8").split("\n").filter((l) => l.includes("action_complete")).length === 3, "the outcomes to be spooled", 10_000);
    const spooled = readFileSync(spool, "utf8").split("\n").filter(Boolean).length;
    await first.kill("SIGKILL");
    await lock.release();

    const svc = await start({ dataDir: first.dataDir, policiesDir: policies, env });
    const ledger = await readLedger(svc, "sm-2");
    expectOneTerminalEach(ledger, accepted);
    expect(ledger.filter((r) => r["operation"] === "action_complete")).toHaveLength(3);
    expect((await readLedger(svc, "_platform")).some((r) => r["operation"] === "degraded_mode")).toBe(true);
    expect(readFileSync(spool, "utf8")).toBe("");
    expect(svc.logs.some((l) => l.includes("spool drained into the ledger store") && l.includes(`"receipts":${spooled}`))).toBe(true);
    for (const ledgerId of ["sm-2", "_platform"]) expect((await verifyExported(svc, ledgerId)).stdout).toMatch(/valid/);
  }, 60_000);
});
