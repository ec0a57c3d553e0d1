/**
 * Two rates against the emulator's own streaming-pull rate for bare acks,
 * all measured in the same run:
 * - the Pub/Sub adapter alone (decode, a handler that says "ack" at once, ack),
 *   10 tenants;
 * - signals consumed to terminal receipts durable in Firestore (the runtime on
 *   the gcp backend, in this process: streaming pull, governor, writer,
 *   Firestore commits, acks).
 *
 * Acks are plain `ack()`: without exactly-once delivery the client's
 * `ackWithResponse()` is `ack()` answering "success" at once, so it would
 * surface no error.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PubSub } from "@google-cloud/pubsub";
import { pino } from "pino";
import { localBackendParts } from "../src/adapters/backend.ts";
import { createDirectoryArchiveStore } from "../src/adapters/embedded/fs-archive-store.ts";
import { createDirectoryPolicyRegistry } from "../src/adapters/embedded/fs-policy-registry.ts";
import { createFirestoreClient, createFirestoreLedgerStore } from "../src/adapters/gcp/firestore-ledger-store.ts";
import { createMemoryDeliveryLog } from "../src/adapters/memory/memory-delivery-log.ts";
import { createMemoryTokenStore } from "../src/adapters/memory/memory-token-store.ts";
import { createPubSubChannels, createPubSubClient, flowFor, topicName } from "../src/adapters/gcp/pubsub.ts";
import { loadConfig } from "../src/config.ts";
import { loadCredentials } from "../src/credentials.ts";
import { Marketplace } from "../src/app/marketplace.ts";
import { createGovernorService } from "../src/app/service.ts";
import { Runtime } from "../src/app/runtime.ts";
import { createSignalConsumer } from "../src/ingress/pubsub/signals.ts";
import { clearFirestoreEmulator } from "./emulators.ts";
import { atLeast, median, type BenchOptions, type Figure } from "./harness.ts";

/** Publishes `n` small messages to a topic, in parallel batches. */
async function publishMany(pubsub: PubSub, topic: string, n: number, data: (i: number) => object): Promise<void> {
  const t = pubsub.topic(topic, { batching: { maxMessages: 500, maxMilliseconds: 5 } });
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => t.publishMessage({ json: data(i + j) })));
  }
}

/** The emulator's streaming-pull rate with a handler that acks at once: messages/s. */
export async function measureBarePullRate(pubsub: PubSub, n: number): Promise<number> {
  const name = `bare-${randomUUID().slice(0, 8)}`;
  const [topic] = await pubsub.createTopic(name);
  await topic.createSubscription(`${name}.sub`);
  await publishMany(pubsub, name, n, (i) => ({ signal_id: `b-${i}`, action: "noop" }));
  const sub = pubsub.subscription(`${name}.sub`, { flowControl: { maxMessages: 1000 } });
  let got = 0;
  const t0 = performance.now();
  await new Promise<void>((done) => {
    sub.on("message", (m) => {
      m.ack();
      if (++got === n) done();
    });
  });
  const rate = (n / (performance.now() - t0)) * 1000;
  await sub.close();
  await sub.delete();
  await topic.delete();
  return rate;
}

/**
 * The adapter's consumption rate with a handler that says "ack" at once, `n`
 * messages spread over `tenants` tenants, at the adapter's default flow
 * control (100 outstanding per tenant: 10 tenants hold as many as the bare
 * subscription's 1,000): messages/s.
 */
export async function measureAdapterRate(pubsub: PubSub, n: number, tenants: number): Promise<number> {
  let got = 0;
  let all!: () => void;
  const done = new Promise<void>((resolve) => (all = resolve));
  const channels = createPubSubChannels({ pubsub, logger: pino({ level: "silent" }) });
  const accounts = Array.from({ length: tenants }, (_, i) => `pa-${randomUUID().slice(0, 6)}-${i}`);
  // Publish while nobody consumes (channels are consumed once started), as for the bare rate; then consume and time it.
  for (const a of accounts) await channels.create(a);
  const per = Math.ceil(n / tenants);
  for (const [i, a] of accounts.entries()) await publishMany(pubsub, topicName(a), Math.max(0, Math.min(per, n - i * per)), (j) => ({ signal_id: `a-${j}`, action: "noop" }));
  const t0 = performance.now();
  await channels.start(async () => {
    if (++got === n) all();
    return "ack";
  });
  await done;
  const rate = (n / (performance.now() - t0)) * 1000;
  await channels.close();
  for (const a of accounts) await channels.delete(a);
  return rate;
}

async function runtimeRate(scratch: string, n: number, tenants: number): Promise<number> {
  await clearFirestoreEmulator();
  const dataDir = join(scratch, `rt-${randomUUID().slice(0, 8)}`);
  mkdirSync(dataDir, { recursive: true });
  const logger = pino({ level: "silent" });
  const config = loadConfig({}, { dataDir, policiesDir: resolve(import.meta.dirname, "../policies"), backend: "gcp", policyWatch: false, scaleIntervalMs: 0, healthIntervalMs: 60_000 });
  const pubsub = createPubSubClient();
  let rt: Runtime | null = null;
  // Outstanding messages follow each tenant's concurrency: the runtime tunes the channels as tenants are provisioned.
  const channels = createPubSubChannels({ pubsub, logger, maxMessages: () => flowFor(1) });
  rt = new Runtime({
    config,
    credentials: loadCredentials(dataDir, {}),
    store: createFirestoreLedgerStore({ firestore: createFirestoreClient(), collectionPrefix: `bench${randomUUID().slice(0, 8)}-` }),
    archives: createDirectoryArchiveStore(join(dataDir, "archives")),
    policyRegistry: createDirectoryPolicyRegistry(join(dataDir, "registry")),
    channels,
    ...localBackendParts(config, logger),
    deliveries: createMemoryDeliveryLog(),
    tokenStore: createMemoryTokenStore(),
    logger,
  });
  await rt.start();
  const marketplace = new Marketplace(rt);
  const accounts = Array.from({ length: tenants }, (_, i) => `pb-${randomUUID().slice(0, 6)}-${i}`);
  for (const a of accounts) {
    const o = await marketplace.handle({ source: "procurement", id: `e-${a}` }, { eventId: `e-${a}`, eventType: "ENTITLEMENT_ACTIVE", entitlement: { id: `ent-${a}`, account_id: a, sku_id: "demo", plan: "bench" } });
    if (o.status !== 201) throw new Error(`provision ${a}: ${JSON.stringify(o)}`);
  }
  // Publish while nobody consumes (channels are consumed once started), as for the bare rate; then consume and time it.
  const per = n / tenants;
  for (const a of accounts) await publishMany(pubsub, topicName(a), per, (i) => ({ signal_id: `s-${i}`, action: "noop" }));
  const target = accounts.reduce((sum, a) => sum + rt!.log.durableSize(a), 0) + 2 * n;
  const t0 = performance.now();
  await channels.start(createSignalConsumer(createGovernorService(rt, marketplace), { logger }));
  while (accounts.reduce((sum, a) => sum + rt!.log.durableSize(a), 0) < target) await new Promise((r) => setTimeout(r, 5));
  const rate = (n / (performance.now() - t0)) * 1000;
  await channels.close();
  await rt.stop();
  await pubsub.close();
  return rate;
}

export async function run(options: BenchOptions): Promise<Figure[]> {
  if (!process.env["PUBSUB_EMULATOR_HOST"] || !process.env["FIRESTORE_EMULATOR_HOST"]) {
    throw new Error('PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST are not set: start the emulators with `eval "$(infra/emulators/start.sh)"`');
  }
  const n = options.quick ? 2000 : 10_000;
  const pubsub = createPubSubClient();
  const bare: number[] = [];
  const adapter: number[] = [];
  const e2e: number[] = [];
  // The emulators are Java programs: a first, unmeasured round lets their JIT warm up for every figure alike.
  await measureBarePullRate(pubsub, n / 2);
  await measureAdapterRate(pubsub, n / 2, 10);
  await runtimeRate(options.scratch, n / 2, 10);
  for (let i = 0; i < 3; i++) {
    bare.push(await measureBarePullRate(pubsub, n));
    adapter.push(await measureAdapterRate(pubsub, n, 10));
    e2e.push(await runtimeRate(options.scratch, n, 10));
  }
  await pubsub.close();
  const b = median(bare);
  return [
    atLeast(
      `pubsub adapter consume vs bare streaming-pull acks, 10 tenants (median of 3 × ${n.toLocaleString("en-US")})`,
      median(adapter),
      "msgs/s",
      0.8 * b,
      `>= 0.8x bare acks (${Math.round(b).toLocaleString("en-US")}/s in the same run)`,
    ),
    atLeast(
      `signals from the Pub/Sub emulator to terminal receipts in Firestore, 10 tenants (median of 3 × ${n.toLocaleString("en-US")})`,
      median(e2e),
      "signals/s",
      0.8 * b,
      `>= 0.8x the emulator's bare streaming-pull acks (${Math.round(b).toLocaleString("en-US")}/s in the same run)`,
    ),
  ];
}
