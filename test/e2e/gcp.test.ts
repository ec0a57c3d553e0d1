/**
 * The service on the Google Cloud backend (`serve --backend gcp`), end to
 * end: Firestore and Pub/Sub are the real emulators; Cloud Storage is the
 * JSON API double (no Cloud Storage emulator exists here; see
 * test/support/gcs-double.ts). Provisioning creates the tenant's topic,
 * signals published there end in receipts in Firestore, a poison message is
 * dead-lettered with a receipt, procurement events provision, policies go to
 * the registry bucket, and a cancel archives to the archive bucket.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPubSubClient, topicName } from "../../src/adapters/gcp/pubsub.ts";
import { requireFirestoreEmulator, requirePubSubEmulator } from "../support/emulators.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { entitlementEvent, eventually, gcpServiceEnv, readLedger, startService, verifyExported, type Service } from "../support/service.ts";

const firestore = requireFirestoreEmulator();
const emulator = requirePubSubEmulator();
const run = randomUUID().slice(0, 8);
const procurementTopic = `procurement-${run}`;
const pubsub = createPubSubClient({ projectId: emulator.projectId });
let gcs: GcsDouble;
let svc: Service;

beforeAll(async () => {
  gcs = await startGcsDouble();
  svc = await startService({
    args: ["--backend", "gcp"],
    env: gcpServiceEnv({ projectId: firestore.projectId, prefix: `e2e${run}`, storageUrl: gcs.url, procurementTopic }),
  });
}, 60_000);
afterAll(async () => {
  await svc?.kill();
  await gcs?.close();
  await pubsub.close();
});

const A = `gcp-a-${run}`;
const B = `gcp-b-${run}`;
const publish = (account: string, data: unknown) => pubsub.topic(topicName(account)).publishMessage({ data: Buffer.from(typeof data === "string" ? data : JSON.stringify(data)) });

describe("the service on the Google Cloud backend", () => {
  it("refuses to start without its buckets, saying which settings are missing", async () => {
    await expect(startService({ args: ["--backend", "gcp"], env: { GOVERNOR_ARCHIVE_BUCKET: "", GOVERNOR_POLICY_BUCKET: "" } })).rejects.toThrow(
      /--backend gcp needs GOVERNOR_ARCHIVE_BUCKET, GOVERNOR_POLICY_BUCKET/,
    );
  });

  it("provisions a tenant with its topic, and turns published signals into durable receipts in Firestore", async () => {
    expect((await svc.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", A))).status).toBe(201);
    const [exists] = await pubsub.topic(topicName(A)).exists();
    expect(exists).toBe(true);
    const active = (await readLedger(svc, A))[0];
    expect(active).toMatchObject({ operation: "entitlement_active", channel: `projects/${emulator.projectId}/topics/tenants.${A}.signals` });
    for (let i = 0; i < 20; i++) await publish(A, { signal_id: `p-${i}`, action: "noop", params: { note: `n${i}` } });
    await eventually(async () => (await readLedger(svc, A)).filter((r) => r["operation"] === "action_complete").length === 20, "20 completed actions", 20_000);
    // Nothing went wrong on the way: no commit was taken for another writer's.
    expect(svc.logs.filter((l) => l.includes("ledger_fenced"))).toEqual([]);
    const ledger = await readLedger(svc, A);
    for (let i = 0; i < 20; i++) {
      const ops = ledger.filter((r) => r["signal_id"] === `p-${i}`).map((r) => r["operation"]);
      // One slot on the starter plan: a signal may wait in the queue first.
      expect(ops.filter((op) => op !== "action_queued")).toEqual(["action_started", "action_complete"]);
    }
  });

  it("dead-letters a message that is not a signal, with a refusal receipt", async () => {
    const keep = pubsub.subscription(`${topicName(A)}.dead-letter.keep`);
    const dead: string[] = [];
    keep.on("message", (m) => {
      dead.push(m.data.toString());
      m.ack();
    });
    try {
      await publish(A, "this is not a signal");
      await eventually(() => dead.length === 1, "the dead letter", 30_000);
      const refused = (await readLedger(svc, A)).filter((r) => r["operation"] === "action_refused");
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ code: "invalid_params", action: "" });
      expect(String(refused[0]!["reason"])).toMatch(/sent to the dead-letter topic: the message is not JSON/);
    } finally {
      await keep.close();
    }
  }, 40_000);

  it("provisions from a Marketplace procurement event", async () => {
    await pubsub.topic(procurementTopic).publishMessage({ json: entitlementEvent("ENTITLEMENT_ACTIVE", B) });
    await eventually(async () => (await svc.request("GET", `/v1/tenants/${B}`, { token: svc.credentials.tokens.operator })).status === 200, "tenant B", 15_000);
    // The governor is registered as the event is decided; its receipt is readable once the commit lands.
    await eventually(async () => (await readLedger(svc, B)).length > 0, "tenant B's first receipt", 15_000);
    expect((await readLedger(svc, B))[0]).toMatchObject({ operation: "entitlement_active", sku_id: "demo", plan: "starter" });
  });

  it("keeps pushed policy versions in the registry bucket", async () => {
    const current = (await (await svc.request("GET", "/v1/policies/demo", { token: svc.credentials.tokens.gitops })).json()) as Record<string, any>;
    const next = { ...current, policy_version: "1.0.1" };
    const res = await svc.request("POST", "/v1/policies", { token: svc.credentials.tokens.gitops, body: next });
    expect(res.status).toBe(200);
    const stored = gcs.buckets.get("governor-policies");
    expect([...(stored?.keys() ?? [])]).toEqual(expect.arrayContaining(["policies/demo/1.0.0.json", "policies/demo/1.0.1.json", "policies/demo/CURRENT"]));
    expect(stored?.get("policies/demo/CURRENT")?.data.toString()).toBe("1.0.1\n");
  });

  it("cancels: archive in the archive bucket, topic deleted, ledger verifies offline", async () => {
    const res = await svc.webhook(entitlementEvent("ENTITLEMENT_CANCELLED", A));
    expect(res.status).toBeLessThan(300);
    await eventually(async () => (await readLedger(svc, A)).some((r) => r["operation"] === "decommission_complete"), "decommission_complete", 20_000);
    const done = (await readLedger(svc, A)).find((r) => r["operation"] === "decommission_complete")!;
    const uri = String(done["archive_uri"]);
    expect(uri).toMatch(new RegExp(`^gs://governor-archives/archives/${A}-`));
    expect(gcs.buckets.get("governor-archives")?.get(uri.replace("gs://governor-archives/", ""))?.data.length).toBe(done["archive_bytes"]);
    const [exists] = await pubsub.topic(topicName(A)).exists();
    expect(exists).toBe(false);
    expect((await verifyExported(svc, A)).stdout).toMatch(/valid/);
    expect(gcs.unknown).toEqual([]);
  });
});
