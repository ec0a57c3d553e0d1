/**
 * The two backends the service runs on, chosen with `--backend` or
 * GOVERNOR_BACKEND: embedded (SQLite, local directories, in-process
 * channels fed by HTTP) and gcp (Firestore, Cloud Storage, Pub/Sub), each
 * configured the way its clients are.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { createDirectoryArchiveStore } from "../adapters/embedded/fs-archive-store.ts";
import { createDirectoryPolicyRegistry } from "../adapters/embedded/fs-policy-registry.ts";
import { createInProcessChannels } from "../adapters/embedded/in-process-channels.ts";
import { createSqliteDeliveryLog } from "../adapters/embedded/sqlite-delivery-log.ts";
import { createSqliteLedgerStore } from "../adapters/embedded/sqlite-ledger-store.ts";
import { createSqliteTokenStore } from "../adapters/embedded/sqlite-token-store.ts";
import { createFirestoreDeliveryLog } from "../adapters/gcp/firestore-delivery-log.ts";
import { createFirestoreClient, createFirestoreLedgerStore } from "../adapters/gcp/firestore-ledger-store.ts";
import { createFirestoreTokenStore } from "../adapters/gcp/firestore-token-store.ts";
import { createGcsArchiveStore, createGcsPolicyRegistry, createStorageClient } from "../adapters/gcp/gcs.ts";
import { createPubSubChannels, createPubSubClient, flowFor, subscribeProcurement } from "../adapters/gcp/pubsub.ts";
import { ConfigError, type Config } from "../config.ts";
import type { ArchiveStore, DeliveryLog, LedgerStore, PolicyRegistry, SignalChannels, TenantTokenStore } from "../ports.ts";
import type { Marketplace } from "../runtime/marketplace.ts";
import type { Runtime } from "../runtime/runtime.ts";

export interface Backend {
  readonly store: LedgerStore;
  readonly archives: ArchiveStore;
  readonly channels: SignalChannels;
  readonly policyRegistry: PolicyRegistry;
  /** Marketplace deliveries seen, beside the ledgers. */
  readonly deliveries: DeliveryLog;
  /** Tenant tokens (their SHA-256 only), beside the ledgers. */
  readonly tokenStore: TenantTokenStore;
  /** Starts what feeds the runtime from outside (procurement events), once it runs. */
  attach(runtime: Runtime, marketplace: Marketplace): Promise<void>;
  /** Stops taking work from outside (before the runtime stops). */
  detach(): Promise<void>;
}

export function embeddedBackend(config: Config): Backend {
  return {
    store: createSqliteLedgerStore({ path: join(config.dataDir, "ledger.sqlite"), reclaimAfterMs: config.memoryReclaimMs }),
    deliveries: createSqliteDeliveryLog({ path: join(config.dataDir, "ledger.sqlite") }),
    tokenStore: createSqliteTokenStore({ path: join(config.dataDir, "tenant-tokens.sqlite") }),
    archives: createDirectoryArchiveStore(join(config.dataDir, "archives")),
    channels: createInProcessChannels(),
    policyRegistry: createDirectoryPolicyRegistry(join(config.dataDir, "policy-registry")),
    attach: async () => {},
    detach: async () => {},
  };
}

export function gcpBackend(config: Config, logger: Logger): Backend {
  const missing = [
    ["GOOGLE_CLOUD_PROJECT", config.gcpProject],
    ["GOVERNOR_ARCHIVE_BUCKET", config.archiveBucket],
    ["GOVERNOR_POLICY_BUCKET", config.policyBucket],
  ].filter(([, v]) => v === "");
  if (missing.length > 0) throw new ConfigError(`--backend gcp needs ${missing.map(([k]) => k).join(", ")}`);
  const projectId = config.gcpProject;
  const storage = createStorageClient({ projectId });
  const pubsub = createPubSubClient({ projectId });
  let runtime: Runtime | null = null;
  const channels = createPubSubChannels({
    pubsub,
    logger,
    maxDeliveryAttempts: config.deliveryAttempts,
    maxMessageBytes: config.bodyLimitBytes,
    maxMessages: (account) => flowFor(runtime?.host.status(account)?.concurrency ?? 1),
    onSignal: (account, signal, delivery) => (runtime === null ? Promise.resolve("nack") : runtime.fromChannel(account, signal, delivery.id)),
    onUndeliverable: async (account, delivery, reason, final) => {
      logger.warn({ account, message_id: delivery.id, attempt: delivery.deliveryAttempt, final }, `undeliverable Pub/Sub message: ${reason}`);
      await runtime?.undeliverable(account, delivery.id, reason, final);
    },
  });
  let procurement: { close(): Promise<void> } | null = null;
  const firestore = createFirestoreClient({ projectId });
  return {
    store: createFirestoreLedgerStore({ firestore, collectionPrefix: config.firestorePrefix, callTimeoutMs: config.storeTimeoutMs }),
    deliveries: createFirestoreDeliveryLog({ firestore, collectionPrefix: config.firestorePrefix, callTimeoutMs: config.storeTimeoutMs }),
    tokenStore: createFirestoreTokenStore({ firestore, collectionPrefix: config.firestorePrefix, callTimeoutMs: config.storeTimeoutMs }),
    archives: createGcsArchiveStore({ storage, bucket: config.archiveBucket }),
    policyRegistry: createGcsPolicyRegistry({ storage, bucket: config.policyBucket }),
    channels,
    async attach(rt, marketplace) {
      runtime = rt;
      if (config.procurementTopic === "") return;
      procurement = await subscribeProcurement({
        pubsub,
        logger,
        topic: config.procurementTopic,
        subscription: config.procurementSubscription,
        maxMessageBytes: config.bodyLimitBytes,
        onEvent: async (event, delivery) => {
          const outcome = await marketplace.handle({ source: "procurement", id: event.eventId, sentAt: delivery.publishTime.getTime() }, event);
          // 409 (the tenant is busy, e.g. still draining; the delivery is under way elsewhere) or 503 (safe mode): again later.
          // Any other refusal is final and has its receipt.
          if (outcome.status === 409 || outcome.status === 503) return "nack";
          if ("code" in outcome) logger.warn({ event_id: event.eventId, code: outcome.code }, outcome.message);
          return "ack";
        },
      });
    },
    async detach() {
      await procurement?.close();
      await channels.close();
      await pubsub.close();
    },
  };
}
