/**
 * Safe mode on the Google Cloud backend against a real failure: the service
 * runs as a child process on its own Firestore emulator, which is suspended
 * with SIGSTOP (every call hangs) and resumed with SIGCONT. Prints the
 * detection and recovery figures beside their bounds. Also: a service started
 * while its Firestore does not answer waits for it, saying so, and comes up.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPubSubClient, topicName } from "../../src/adapters/gcp/pubsub.ts";
import { requirePubSubEmulator, startPrivateFirestoreEmulator } from "../support/emulators.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { entitlementEvent, eventually, readLedger, startService, verifyExported, type Service } from "../support/service.ts";

const INTERVAL = 500;
const DEADLINE = 300;
const FAILURES = 3;
const pubsubEmulator = requirePubSubEmulator();
const pubsub = createPubSubClient({ projectId: pubsubEmulator.projectId });
let gcs: GcsDouble;
let emulator: Awaited<ReturnType<typeof startPrivateFirestoreEmulator>>;
let svc: Service | undefined;
let late: Service | undefined;

beforeAll(async () => {
  gcs = await startGcsDouble();
  emulator = await startPrivateFirestoreEmulator();
}, 120_000);
afterAll(async () => {
  await svc?.kill();
  await late?.kill();
  await emulator?.stop();
  await gcs?.close();
  await pubsub.close();
});

/** The service on the Google Cloud backend, on this file's Firestore emulator. */
function startOnEmulator(env: Record<string, string>, onLog?: (line: string) => void): Promise<Service> {
  return startService({
    ...(onLog === undefined ? {} : { onLog }),
    args: ["--backend", "gcp"],
    env: {
      FIRESTORE_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: pubsubEmulator.projectId,
      GOVERNOR_ARCHIVE_BUCKET: "archives",
      GOVERNOR_POLICY_BUCKET: "policies",
      STORAGE_EMULATOR_HOST: gcs.url,
      ...env,
    },
  });
}

describe("safe mode on a suspended Firestore", () => {
  it("detects the hang, refuses and nacks, recovers in order, and the ledger verifies", async () => {
    svc = await startOnEmulator({
      GOVERNOR_HEALTH_INTERVAL_MS: String(INTERVAL),
      GOVERNOR_PROBE_DEADLINE_MS: String(DEADLINE),
      GOVERNOR_PROBE_FAILURES: String(FAILURES),
      GOVERNOR_STORE_TIMEOUT_MS: "1000",
    });
    const s = svc;
    const tenant = `sm-fs-${randomUUID().slice(0, 8)}`;
    expect((await s.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", tenant))).status).toBe(201);
    const token = await s.tenantToken(tenant);
    const signal = (id: string) => s.request("POST", `/v1/tenants/${tenant}/signals`, { token, body: { signal_id: id, action: "noop" } });
    expect((await signal("before")).status).toBe(202);
    const ready = async () => (await s.request("GET", "/readyz", { token: null })).status;

    process.kill(emulator.pid, "SIGSTOP");
    const stoppedAt = Date.now();
    await eventually(async () => (await ready()) === 503, "safe mode", 15_000);
    const detectedMs = Date.now() - stoppedAt;

    const refused = await signal("during");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).not.toBeNull();
    // A signal published now is nacked, not lost: it is taken once the store is back.
    await pubsub.topic(topicName(tenant)).publishMessage({ json: { signal_id: "published-during", action: "noop" } });
    // Refused twice before the store comes back: the HTTP signal, and the published one delivered and nacked.
    const refusedSoFar = async () => ((await (await s.request("GET", "/v1/status", { token: s.credentials.tokens.operator })).json()) as { health?: { actions_refused?: number } }).health?.actions_refused ?? 0;
    await eventually(async () => (await refusedSoFar()) >= 2, "the published signal to be nacked", 15_000);

    process.kill(emulator.pid, "SIGCONT");
    const resumedAt = Date.now();
    await eventually(async () => (await ready()) === 200, "recovery", 15_000);
    const recoveredMs = Date.now() - resumedAt;
    process.stdout.write(
      `safe mode (Firestore emulator under SIGSTOP): detection ${detectedMs} ms (bound ${FAILURES * INTERVAL + DEADLINE} ms = ${FAILURES} x ${INTERVAL} + ${DEADLINE}); recovery ${recoveredMs} ms (bound ${INTERVAL} ms + poll)\n`,
    );
    expect(detectedMs).toBeLessThanOrEqual(FAILURES * INTERVAL + DEADLINE + 300);
    expect(recoveredMs).toBeLessThanOrEqual(INTERVAL + 1500);

    await eventually(async () => (await readLedger(s, tenant)).some((r) => r["signal_id"] === "published-during" && r["operation"] === "action_complete"), "the nacked signal to be taken", 30_000);
    const ledger = await readLedger(s, tenant);
    expect(ledger.filter((r) => r["signal_id"] === "during")).toEqual([]);
    const platform = await readLedger(s, "_platform");
    const modes = platform.filter((r) => String(r["operation"]).startsWith("degraded_mode")).map((r) => r["operation"]);
    expect(modes).toEqual(["degraded_mode", "degraded_mode_cleared"]);
    // The HTTP refusal, and each delivery of the published signal nacked meanwhile.
    expect(Number(platform.find((r) => r["operation"] === "degraded_mode_cleared")?.["actions_refused"])).toBeGreaterThanOrEqual(2);
    for (const l of [tenant, "_platform"]) expect((await verifyExported(s, l)).stdout).toMatch(/valid/);
  }, 120_000);

  it("starts once a Firestore that did not answer at start answers, and logs each wait", async () => {
    await svc?.kill();
    svc = undefined;
    process.kill(emulator.pid, "SIGSTOP");
    // Resumed once the service says it waits for the store: the wait is observed, not timed.
    let suspended = true;
    const resume = () => {
      if (!suspended) return;
      suspended = false;
      process.kill(emulator.pid, "SIGCONT");
    };
    try {
      late = await startOnEmulator({ GOVERNOR_STORE_TIMEOUT_MS: "500" }, (line) => {
        if (line.includes("the ledger store did not answer at start; trying again")) resume();
      });
    } finally {
      resume();
    }
    const waits = late.logs.filter((l) => l.includes("the ledger store did not answer at start; trying again"));
    expect(waits.length).toBeGreaterThanOrEqual(1);
    expect(waits[0]).toContain("LEDGER_STORE_TIMEOUT");
    const tenant = `sm-late-${randomUUID().slice(0, 8)}`;
    expect((await late.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", tenant))).status).toBe(201);
    expect((await verifyExported(late, tenant)).stdout).toMatch(/valid/);
  }, 60_000);
});
