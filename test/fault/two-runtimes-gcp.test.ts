/**
 * Two runtime processes pointed at the same Firestore (a failover gone wrong,
 * or a deployment with two instances): both consume the tenant's Pub/Sub
 * subscription, so both append to its ledger. One wins each append; the
 * other is fenced, rebuilds from Firestore and goes on. The ledger never
 * forks, every signal ends exactly once, and the ledger verifies.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPubSubClient, topicName } from "../../src/adapters/gcp/pubsub.ts";
import { requireFirestoreEmulator, requirePubSubEmulator } from "../support/emulators.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { endsAction } from "../support/ends.ts";
import { entitlementEvent, eventually, readLedger, startService, verifyExported, type Service } from "../support/service.ts";

const firestore = requireFirestoreEmulator();
requirePubSubEmulator();
const run = randomUUID().slice(0, 8);
const pubsub = createPubSubClient({ projectId: firestore.projectId });
let gcs: GcsDouble;
const services: Service[] = [];

beforeAll(async () => {
  gcs = await startGcsDouble();
});
afterAll(async () => {
  for (const s of services) await s.kill();
  await gcs?.close();
  await pubsub.close();
});


describe("two runtime processes on one Firestore", () => {
  it("never fork a ledger: one wins each append, the other recovers", async () => {
    const env = {
      GOOGLE_CLOUD_PROJECT: firestore.projectId,
      GOVERNOR_ARCHIVE_BUCKET: "archives",
      GOVERNOR_POLICY_BUCKET: "policies",
      GOVERNOR_FIRESTORE_PREFIX: `two${run}`,
      STORAGE_EMULATOR_HOST: gcs.url,
    };
    const first = await startService({ args: ["--backend", "gcp"], env });
    services.push(first);
    const tenant = `two-${run}`;
    expect((await first.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", tenant, { plan: "bench" }))).status).toBe(201);
    // The second process starts on the same data: it rebuilds the tenant and consumes the same subscription.
    const second = await startService({ args: ["--backend", "gcp"], env });
    services.push(second);

    const signals = 200;
    const topic = pubsub.topic(topicName(tenant));
    for (let i = 0; i < signals; i++) await topic.publishMessage({ json: { signal_id: `t-${i}`, action: "noop" } });

    const ends = async () => {
      const ledger = await readLedger(first, tenant);
      const ended = new Map<string, number>();
      for (const r of ledger) if (endsAction(r)) ended.set(String(r["signal_id"]), (ended.get(String(r["signal_id"])) ?? 0) + 1);
      return { ledger, ended };
    };
    await eventually(async () => (await ends()).ended.size === signals, "every signal to end", 60_000);
    const { ledger, ended } = await ends();
    // Exactly once each: any signal that ended more than once is listed with its receipts.
    const twice = [...ended].filter(([, n]) => n !== 1).map(([id]) => ({
      signal_id: id,
      receipts: ledger.filter((r) => r["signal_id"] === id).map((r) => `${String(r["seq"])} ${String(r["operation"])} ${String(r["timestamp"])}`),
    }));
    expect(twice).toEqual([]);
    const started = ledger.filter((r) => r["operation"] === "action_started");
    expect(new Set(started.map((r) => r["signal_id"])).size).toBe(started.length);
    // Both processes wrote, and at least one lost a race and recovered.
    const fenced = [...first.logs, ...second.logs].filter((l) => l.includes('"alert":"ledger_fenced"')).length;
    process.stdout.write(`two runtimes: ${ledger.length} receipts, ${fenced} lost races recovered\n`);
    expect(fenced).toBeGreaterThan(0);
    // One chain, and it verifies offline.
    expect(ledger.map((r) => r["seq"])).toEqual(ledger.map((_, i) => i));
    expect((await verifyExported(second, tenant)).stdout).toMatch(/valid/);
  }, 120_000);
});
