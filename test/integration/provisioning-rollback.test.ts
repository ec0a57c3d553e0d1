/**
 * The four rollback paths of a provision (runbooks 1 and 6), each forced on
 * an embedded runtime (SQLite on a temporary data directory, the shipped
 * policies, in-process channels) behind the real HTTP server: the policy
 * cannot be loaded, the store cannot be initialized, the channel cannot be
 * created, the governor cannot boot. Each must end in `entitlement_failed`
 * naming the failed step, an `entitlement_failed` alert, nothing created
 * left behind, and an answer with a stable code.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { embeddedBackend } from "../../src/adapters/backend.ts";
import { createInProcessChannels } from "../../src/adapters/embedded/in-process-channels.ts";
import { Marketplace } from "../../src/app/marketplace.ts";
import { createGovernorService } from "../../src/app/service.ts";
import { loadConfig } from "../../src/config.ts";
import { loadCredentials } from "../../src/credentials.ts";
import { buildHttpServer } from "../../src/ingress/http/server.ts";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import { StoreUnavailableError, type LedgerStore } from "../../src/ports/index.ts";
import { Runtime } from "../../src/app/runtime.ts";

const policiesDir = resolve(import.meta.dirname, "../../policies");

interface Alert {
  code: string;
  message: string;
  ledger?: string;
  details?: Record<string, unknown>;
}

interface Rig {
  readonly rt: Runtime;
  readonly app: FastifyInstance;
  readonly alerts: Alert[];
  readonly channels: ReturnType<typeof createInProcessChannels>;
  /** Sends a signed marketplace event; resolves with the HTTP status and body. */
  webhook(event: unknown, id?: string): Promise<{ status: number; retryAfter: string | undefined; body: Record<string, unknown> & { error?: { code: string; message: string } } }>;
  ledger(account: string): Promise<readonly Receipt[]>;
}

const rigs: { rt: Runtime; dir: string; detach: () => Promise<void> }[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const { rt, dir, detach } of rigs.splice(0)) {
    await detach();
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An embedded runtime and its server; `store` and `channels` may wrap the real ones to make them fail. */
async function startRig(wrap: { store?: (real: LedgerStore) => LedgerStore; channels?: (real: ReturnType<typeof createInProcessChannels>) => ReturnType<typeof createInProcessChannels> } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), "governor-rollback-"));
  const config = loadConfig({}, { dataDir: dir, policiesDir, policyWatch: false, scaleIntervalMs: 0, healthIntervalMs: 3_600_000, memoryReclaimMs: 0, youngGcMs: 0 });
  const credentials = loadCredentials(dir);
  const logger = pino({ level: "silent" });
  const backend = embeddedBackend(config, logger);
  const realChannels = createInProcessChannels();
  const channels = wrap.channels?.(realChannels) ?? realChannels;
  const alerts: Alert[] = [];
  const rt = new Runtime({
    config,
    credentials,
    ...backend,
    store: wrap.store?.(backend.store) ?? backend.store,
    channels,
    logger,
    alerts: { alert: (a) => alerts.push(a) },
  });
  rigs.push({ rt, dir, detach: () => backend.detach() });
  await rt.start();
  const { app } = buildHttpServer(createGovernorService(rt, new Marketplace(rt)), { settings: config, credentials, logger });
  const secret = credentials.webhookSecrets[0]!;
  return {
    rt,
    app,
    alerts,
    channels: realChannels,
    async webhook(event, id = `msg_${randomUUID()}`) {
      const payload = JSON.stringify(event);
      const timestamp = new Date();
      const res = await app.inject({
        method: "POST",
        url: "/v1/marketplace/events",
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
          "webhook-signature": new Webhook(secret).sign(id, timestamp, payload),
        },
        payload,
      });
      const retryAfter = res.headers["retry-after"];
      return { status: res.statusCode, retryAfter: retryAfter === undefined ? undefined : String(retryAfter), body: res.json() };
    },
    async ledger(account) {
      return rt.store.read(account as LedgerId, 0, 1000);
    },
  };
}

function activeEvent(account: string, overrides: { sku?: string; plan?: string } = {}) {
  return {
    eventId: `evt-${randomUUID()}`,
    eventType: "ENTITLEMENT_ACTIVE",
    entitlement: { id: `ent-${account}`, account_id: account, sku_id: overrides.sku ?? "demo", plan: overrides.plan ?? "starter", region: "europe-west1" },
  };
}

/** The one `entitlement_failed` on the tenant's ledger, and the one alert naming the same step. */
async function expectRolledBack(rig: Rig, account: string, step: string): Promise<Record<string, unknown>> {
  const receipts = await rig.ledger(account);
  expect(receipts.map((r) => r.operation)).toEqual(["entitlement_failed"]);
  const failed = receipts[0]!;
  expect(failed).toMatchObject({ operation: "entitlement_failed", status: "failure", step, entitlement_id: `ent-${account}` });
  const alerts = rig.alerts.filter((a) => a.code === "entitlement_failed");
  expect(alerts).toHaveLength(1);
  expect(alerts[0]).toMatchObject({ ledger: account, details: { step } });
  expect(rig.channels.has(account)).toBe(false);
  expect(rig.rt.governors.status(account)?.state ?? "new").toBe("new");
  return failed as unknown as Record<string, unknown>;
}

describe("provision rollback", () => {
  it("load_policy: an unknown plan → 422 MARKETPLACE_UNKNOWN_PLAN, entitlement_failed, an alert, no channel created", async () => {
    let creates = 0;
    const rig = await startRig({
      channels: (real) => ({
        ...real,
        create(account) {
          creates++;
          return real.create(account);
        },
      }),
    });
    const res = await rig.webhook(activeEvent("rb-policy", { plan: "platinum" }));
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe("MARKETPLACE_UNKNOWN_PLAN");
    expect((await expectRolledBack(rig, "rb-policy", "load_policy"))["code"]).toBe("unknown_plan");
    expect(creates).toBe(0);
  });

  it("init_store: the tenant's ledger cannot be opened → 503 with Retry-After, entitlement_failed once the store answers, an alert, no channel", async () => {
    let failOpens = 1;
    const rig = await startRig({
      store: (real) =>
        new Proxy(real, {
          get(target, prop, receiver) {
            if (prop === "head") {
              return (ledger: LedgerId) => {
                if (ledger === "rb-store" && failOpens > 0) {
                  failOpens--;
                  return Promise.reject(new StoreUnavailableError("the ledger store did not answer"));
                }
                return target.head(ledger);
              };
            }
            const value = Reflect.get(target, prop, receiver) as unknown;
            return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        }),
    });
    const id = `msg_${randomUUID()}`;
    const event = activeEvent("rb-store");
    const res = await rig.webhook(event, id);
    expect(res.status).toBe(503);
    expect(res.body.error?.code).toBe("MARKETPLACE_STORE_FAILED");
    expect(res.retryAfter).toBe(String(rig.rt.config.retryAfterS));
    expect((await expectRolledBack(rig, "rb-store", "init_store"))["code"]).toBe("store_failed");
    // Not stored as the delivery's outcome: sent again once the store answers, it runs.
    const again = await rig.webhook(event, id);
    expect(again.status).toBe(201);
    expect((await rig.ledger("rb-store")).map((r) => r.operation)).toEqual(["entitlement_failed", "entitlement_active"]);
    expect(rig.channels.has("rb-store")).toBe(true);
  });

  it("create_channel: the channel fails half-made → 422 MARKETPLACE_CHANNEL_FAILED, entitlement_failed, an alert, the channel removed", async () => {
    const rig = await startRig({
      channels: (real) => ({
        ...real,
        async create(account) {
          await real.create(account);
          throw new Error("topic created, subscription refused");
        },
      }),
    });
    const res = await rig.webhook(activeEvent("rb-channel"));
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe("MARKETPLACE_CHANNEL_FAILED");
    expect((await expectRolledBack(rig, "rb-channel", "create_channel"))["reason"]).toMatch(/subscription refused/);
  });

  it("boot_governor: the governor cannot boot → 500 MARKETPLACE_BOOT_FAILED, entitlement_failed, an alert, the channel removed; a redelivery runs again", async () => {
    const rig = await startRig();
    vi.spyOn(rig.rt.governors, "provision").mockRejectedValueOnce(new Error("the governor's machine could not start"));
    const id = `msg_${randomUUID()}`;
    const event = activeEvent("rb-boot");
    const res = await rig.webhook(event, id);
    expect(res.status).toBe(500);
    expect(res.body.error?.code).toBe("MARKETPLACE_BOOT_FAILED");
    expect((await expectRolledBack(rig, "rb-boot", "boot_governor"))["reason"]).toMatch(/could not start/);
    const again = await rig.webhook(event, id);
    expect(again.status).toBe(201);
    expect(rig.rt.governors.status("rb-boot")?.state).toBe("active");
    expect(rig.channels.has("rb-boot")).toBe(true);
  });
});
