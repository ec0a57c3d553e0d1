/**
 * Two runtime processes pointed at the same Firestore (a failover gone wrong,
 * or a deployment with two instances): both consume the tenant's Pub/Sub
 * subscription, so both append to its ledger. One wins each append; the
 * other is fenced, rebuilds from Firestore and goes on. Each keeps several
 * commits in flight, so one's commits land between the other's: a commit
 * that does not link to what the other wrote is refused. The ledger never
 * forks, every signal ends exactly once, every ledger verifies, and a clean
 * restart goes on from where they stopped.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type Server, type Socket } from "node:net";
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
let slowLink: { host: string; close(): void };
const services: Service[] = [];

/**
 * A TCP relay to the Firestore emulator that holds every chunk back
 * maxMs/2..maxMs (in order): one runtime's link to Firestore is slow, so the
 * commits it keeps in flight are overtaken by the other runtime's.
 */
async function laggingRelay(target: string, maxMs: number): Promise<{ host: string; close(): void }> {
  const [targetHost, targetPort] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  const sockets = new Set<Socket>();
  const lagged = (from: Socket, to: Socket) => {
    // Each chunk is due a while after it came, never before the one before it: latency, not a queue that grows.
    let lastDue = 0;
    from.on("data", (chunk) => {
      const due = Math.max(performance.now() + maxMs / 2 + Math.random() * (maxMs / 2), lastDue);
      lastDue = due;
      setTimeout(() => void (to.destroyed || to.write(chunk)), due - performance.now());
    });
    from.on("close", () => setTimeout(() => to.destroy(), Math.max(0, lastDue - performance.now()) + 1));
  };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => s.destroy());
      s.on("close", () => sockets.delete(s));
    }
    lagged(client, upstream);
    lagged(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

beforeAll(async () => {
  gcs = await startGcsDouble();
  slowLink = await laggingRelay(firestore.host, 30);
});
afterAll(async () => {
  for (const s of services) await s.kill();
  await gcs?.close();
  await pubsub.close();
  slowLink?.close();
});


describe("two runtime processes on one Firestore", () => {
  it("never fork a ledger: one wins each append, the other recovers", async () => {
    const env: Record<string, string> = {
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
    // Instances of one deployment share its checkpoint signing keys: any of them exports what any of them signed.
    const signingKeys = (JSON.parse(readFileSync(join(first.dataDir, "credentials.json"), "utf8")) as { signing_keys: string[] }).signing_keys.join(",");
    Object.assign(env, { GOVERNOR_SIGNING_KEYS: signingKeys });
    // The second process starts on the same data, over a slow link: it rebuilds the tenant and consumes the same subscription.
    const second = await startService({ args: ["--backend", "gcp"], env: { ...env, FIRESTORE_EMULATOR_HOST: slowLink.host } });
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
    const refusals = (code: string) => [...first.logs, ...second.logs].filter((l) => l.includes(`"code":"${code}"`)).length;
    process.stdout.write(
      `two runtimes: ${ledger.length} receipts, ${fenced} lost races recovered; commits refused: ${refusals("LEDGER_SEQ_CONFLICT")} for their seq, ${refusals("LEDGER_CHAIN_CONFLICT")} for a link that did not hold\n`,
    );
    expect(fenced).toBeGreaterThan(0);
    // One chain, and it verifies offline; so does the platform ledger both wrote.
    expect(ledger.map((r) => r["seq"])).toEqual(ledger.map((_, i) => i));
    expect((await verifyExported(second, tenant)).stdout).toMatch(/valid/);
    expect((await verifyExported(first, "_platform")).code).toBe(0);

    // A clean restart: both stop, one starts again on the same data, rebuilds the tenant and goes on.
    for (const s of [first, second]) {
      await s.kill("SIGTERM");
      expect((await s.exited).code).toBe(0);
    }
    const third = await startService({ args: ["--backend", "gcp"], env });
    services.push(third);
    expect((await readLedger(third, tenant)).slice(0, ledger.length)).toEqual(ledger);
    const more = 20;
    for (let i = 0; i < more; i++) await topic.publishMessage({ json: { signal_id: `after-${i}`, action: "noop" } });
    const endsAfter = async () => {
      const all = await readLedger(third, tenant);
      return all.filter((r) => endsAction(r) && String(r["signal_id"]).startsWith("after-"));
    };
    await eventually(async () => (await endsAfter()).length >= more, "the signals sent after the restart to end", 60_000);
    const after = await endsAfter();
    expect(new Set(after.map((r) => r["signal_id"])).size).toBe(after.length);
    expect((await verifyExported(third, tenant)).code).toBe(0);
    expect((await verifyExported(third, "_platform")).code).toBe(0);
  }, 240_000);
});
