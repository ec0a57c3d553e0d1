/**
 * A Marketplace procurement event delivered again after a restart, on the
 * Google Cloud backend (`serve --backend gcp`; Firestore and Pub/Sub are the
 * real emulators, Cloud Storage the JSON API double): its event id is
 * remembered in Firestore, so the repeat gets the first outcome and a
 * cancelled tenant stays cancelled.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPubSubClient } from "../../src/adapters/gcp/pubsub.ts";
import { requireFirestoreEmulator, requirePubSubEmulator } from "../support/emulators.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { entitlementEvent, eventually, gcpServiceEnv, readLedger, scratchDir, startService, type Service } from "../support/service.ts";

const firestore = requireFirestoreEmulator();
const emulator = requirePubSubEmulator();
const run = randomUUID().slice(0, 8);
const procurementTopic = `procurement-replay-${run}`;
const pubsub = createPubSubClient({ projectId: emulator.projectId });
const dataDir = scratchDir("governor-procurement-");
let gcs: GcsDouble;
const started: Service[] = [];

const start = async () => {
  const s = await startService({
    dataDir,
    args: ["--backend", "gcp"],
    env: { ...gcpServiceEnv({ projectId: firestore.projectId, prefix: `replay${run}`, storageUrl: gcs.url, procurementTopic }), GOVERNOR_DRAIN_MS: "1000" },
  });
  started.push(s);
  return s;
};

beforeAll(async () => {
  gcs = await startGcsDouble();
});
afterAll(async () => {
  for (const s of started) await s.kill();
  await gcs?.close();
  await pubsub.close();
});

describe("a procurement event delivered again after a restart", () => {
  it("ENTITLEMENT_ACTIVE after a cancel: answered with its first outcome; the tenant stays decommissioned, its ledger unchanged", async () => {
    const account = `proc-${run}`;
    const first = await start();
    const active = entitlementEvent("ENTITLEMENT_ACTIVE", account);
    await pubsub.topic(procurementTopic).publishMessage({ json: active });
    await eventually(async () => (await first.request("GET", `/v1/tenants/${account}`, { token: first.credentials.tokens.operator })).status === 200, "the tenant", 20_000);
    await eventually(async () => (await readLedger(first, account)).length > 0, "its first receipt", 20_000);
    await pubsub.topic(procurementTopic).publishMessage({ json: entitlementEvent("ENTITLEMENT_CANCELLED", account) });
    await eventually(async () => (await readLedger(first, account)).some((r) => r["operation"] === "decommission_complete"), "decommission_complete", 20_000);
    const ledger = await readLedger(first, account);
    // Stopped (SIGTERM), so its subscription stream is closed and the emulator delivers to the next process at once.
    await first.kill("SIGTERM");

    const second = await start();
    // The same event again (Pub/Sub delivers at least once; a publisher may publish twice).
    await pubsub.topic(procurementTopic).publishMessage({ json: active });
    const state = async () => ((await (await second.request("GET", `/v1/tenants/${account}`, { token: second.credentials.tokens.operator })).json()) as { state: string }).state;
    // Answered from the delivery log, or (as before durable delivery ids) provisioned again.
    await eventually(
      async () => second.logs.some((l) => l.includes("answered with its first outcome") && l.includes(active.eventId)) || (await state()) !== "decommissioned",
      "the repeat to be handled",
      20_000,
    );
    expect(await state()).toBe("decommissioned");
    expect(await readLedger(second, account)).toEqual(ledger);
  }, 90_000);
});
